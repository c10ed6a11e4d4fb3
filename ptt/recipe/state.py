"""The training loop's state: what a resume state holds besides the engine's, and what the summary reports."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class LoopState:
    """Where a run is. Saved in every resume state (as a dict of these fields) and read back on resume."""

    step: int = 0
    """Optimizer steps taken (skipped steps included)."""
    best: float | None = None
    """The best value of the task's primary metric so far (None before the first evaluation)."""
    best_step: int | None = None
    """The step that reached `best`."""
    skipped: int = 0
    """Steps dropped for a non-finite loss (`--on-nonfinite skip`)."""
    data_order: str = ""
    """A running sha256 over every step's global batch indices (`advance`): two runs with equal values saw the same
    data in the same order."""

    def advance(self, batch: list[int], skipped: bool) -> None:
        """One step taken over the global batch `batch` (its row indices)."""
        self.data_order = hashlib.sha256(f"{self.data_order}:{batch}".encode()).hexdigest()
        self.step += 1
        self.skipped += int(skipped)

    def improves(self, value: float) -> bool:
        return self.best is None or value > self.best

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, saved: dict[str, Any]) -> "LoopState":
        """A saved state; fields a run of an older version did not save keep their defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in saved.items() if k in known})
