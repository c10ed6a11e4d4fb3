"""Cross-model prompt projector: a two-layer perceptron from one backbone's prompt space to another's.

Modes: `token` maps every prompt vector on its own ([L, Hs] -> [L, Ht], lengths equal); `flat` maps the
flattened prompt ([Ls * Hs] -> [Lt * Ht]), so lengths may differ. The distance objective's loop and the
projector artifact live here; task tuning runs through `ptt.training` (see `ptt.commands.project`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from ptt.errors import PttError
from ptt.runtime.artifacts import atomic_write_json, atomic_write_tensors, load_checked_state, state_sha256

MODES = ("token", "flat")


@dataclass(frozen=True)
class ProjectorShape:
    source_length: int
    source_hidden: int
    target_length: int
    target_hidden: int
    hidden: int = 768
    mode: str = "token"

    def __post_init__(self):
        if self.mode not in MODES:
            raise PttError(f"--mode {self.mode}: choose token or flat")
        if self.mode == "token" and self.source_length != self.target_length:
            raise PttError(f"--mode token: source length {self.source_length} != target length {self.target_length}; "
                           "use --mode flat to map between lengths")
        if self.hidden < 1:
            raise PttError(f"--projector-hidden {self.hidden}: must be a positive integer")

    def to_dict(self) -> dict:
        return asdict(self)


class Projector(nn.Module):
    """prompt [Ls, Hs] -> [Lt, Ht] through Linear -> tanh -> Linear."""

    def __init__(self, shape: ProjectorShape):
        super().__init__()
        self.shape = shape
        d_in = shape.source_hidden if shape.mode == "token" else shape.source_length * shape.source_hidden
        d_out = shape.target_hidden if shape.mode == "token" else shape.target_length * shape.target_hidden
        self.net = nn.Sequential(nn.Linear(d_in, shape.hidden), nn.Tanh(), nn.Linear(shape.hidden, d_out))

    def forward(self, prompt: torch.Tensor) -> torch.Tensor:
        s = self.shape
        if s.mode == "token":
            return self.net(prompt)
        return self.net(prompt.reshape(1, -1)).reshape(s.target_length, s.target_hidden)


class ProjectedPrompt(nn.Module):
    """The prompt module the target backbone sees: projector(source prompt of the current task).

    Only the projector is trainable; the source prompts are fixed buffers, one per task.
    """

    def __init__(self, projector: Projector, sources: dict[str, torch.Tensor]):
        super().__init__()
        self.projector = projector
        self.tasks = list(sources)
        self.register_buffer("sources", torch.stack([sources[t] for t in self.tasks]), persistent=False)
        self.current = 0

    def use(self, task: str) -> None:
        self.current = self.tasks.index(task)

    def forward(self) -> torch.Tensor:
        src = self.sources[self.current]
        return self.projector(src.to(next(self.projector.parameters()).dtype))


def distance_loss(pred: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    """mse: mean squared error; cosine: 1 - mean token-wise cosine similarity. Shapes [L, H] each."""
    if kind == "mse":
        return torch.mean((pred - target) ** 2)
    return 1 - torch.nn.functional.cosine_similarity(pred, target, dim=-1).mean()


def fit_distance(projector: Projector, src: dict[str, torch.Tensor], tgt: dict[str, torch.Tensor], tasks: list[str],
                 loss: str, steps: int, lr: float, log=None) -> float:
    """Adam on the mean distance between projected source prompts and the target prompts of `tasks` (plain
    PyTorch: prompts are small). log: optional (step, loss) callback every 10 steps. Returns the final loss."""
    opt = torch.optim.Adam(projector.parameters(), lr=lr)
    value = torch.tensor(float("nan"))
    for step in range(1, steps + 1):
        value = sum(distance_loss(projector(src[t]), tgt[t], loss) for t in tasks) / len(tasks)
        opt.zero_grad()
        value.backward()
        opt.step()
        if log is not None and (step % 10 == 0 or step == steps):
            log(step, value.item())
    return float(value.item())


WEIGHTS, META = "projector.safetensors", "projector.json"


def save_projector(output_dir, shape: ProjectorShape, state: dict[str, torch.Tensor], meta: dict) -> None:
    """projector.safetensors, then projector.json vouching for it (shape, checksum, `meta`)."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_tensors(out / WEIGHTS, state)
    atomic_write_json(out / META, {**meta, "shape": shape.to_dict(), "sha256": state_sha256(state),
                                   "format": "ptt-projector-v1"})


def load_projector(directory) -> tuple[Projector, dict]:
    meta, state = load_checked_state(directory, META, WEIGHTS, "--projector", "run `ptt transfer project fit`")
    projector = Projector(ProjectorShape(**meta["shape"]))
    projector.load_state_dict(state)
    return projector, meta
