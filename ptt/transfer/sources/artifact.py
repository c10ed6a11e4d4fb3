"""One typed artifact for both kinds of saved prompt: a plain prompt (`prompt.json` + `prompt.safetensors`, a
tensor [L, H]) and an attention mixture (`mixture.json` + `mixture.safetensors`, a prompt module that makes a
prompt per input). Commands read, check, describe and score an `Artifact` without asking which kind it is; the
one compatibility check (`mismatch`) serves every place that gathers prompts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ptt.errors import PttError
from ptt.families.loading import PROJECT_FIRST, require_hidden
from ptt.runtime.artifacts import backbone_id, load_prompt
from ptt.scoring import Scorer, open_scorer
from ptt.transfer.sources.mixture import MixturePrompt, is_mixture, load_mixture


@dataclass(frozen=True)
class Mismatch:
    """Why an artifact does not fit: the field that differs ("backbone", "hidden" or "length") and a sentence."""

    field: str
    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Artifact:
    """A prompt artifact read and checked once. Exactly one of `tensor` (plain) and `module` (mixture) is set."""

    path: str
    meta: dict[str, Any]
    tensor: torch.Tensor | None = None
    """[L, H]: a plain prompt, scored by passing it to the scorer (several are stacked into one forward)."""
    module: MixturePrompt | None = None
    """A mixture: the scorer runs it as the model's prompt module (one prompt per input)."""

    @property
    def kind(self) -> str:
        return "prompt" if self.module is None else "mixture"

    @property
    def length(self) -> int:
        return self.tensor.shape[0] if self.module is None else int(self.meta["length"])

    @property
    def hidden(self) -> int:
        return self.tensor.shape[1] if self.module is None else int(self.meta["hidden_size"])

    @property
    def backbone(self) -> str:
        return backbone_id(self.meta)

    @property
    def task(self) -> str | None:
        return self.meta.get("task")

    @property
    def label(self) -> str:
        """Its row name in a matrix: the task, marked for a mixture."""
        return f"{self.task}(mixture)" if self.module is not None else (self.task or "?")

    def describe(self) -> dict[str, Any]:
        return {"path": self.path, "kind": self.kind, "task": self.task, "backbone": self.meta.get("backbone"),
                "length": self.length, "hidden_size": self.hidden, "sha256": self.meta.get("sha256")}

    def mismatch(self, backbone: str, length: int | None = None, hidden: int | None = None) -> "Mismatch | None":
        """Why this artifact cannot be scored or combined with prompts of `backbone` (an id as `backbone_id`
        gives it), `length` and `hidden` (None: any), or None when it can."""
        if self.backbone != backbone:
            return Mismatch("backbone", f"other backbone ({self.meta.get('backbone')})")
        if hidden is not None and self.hidden != hidden:
            return Mismatch("hidden", f"hidden size {self.hidden} != {hidden}")
        if length is not None and self.length != length:
            return Mismatch("length", f"length {self.length} != {length}")
        return None

    def require_fits(self, backbone: str, hidden: int, flag: str, fix: str = PROJECT_FIRST) -> None:
        """Refuse an artifact whose hidden size does not fit `backbone` (a plain prompt can be projected first:
        `fix` says so, or what else to do)."""
        if self.module is None:
            require_hidden(self.tensor, self.meta, self.path, backbone, hidden, flag, fix)
        elif self.hidden != hidden:  # a projector maps plain prompts, not mixtures
            raise PttError(f"{flag} {self.path}: a mixture of hidden size {self.hidden} but {backbone} has {hidden}; "
                           f"score it on the backbone it was trained on ({self.meta.get('backbone')})")

    def scorer(self, score_cfg) -> Scorer:
        """A scorer for this artifact's length (a mixture's runs its module as the model's prompt module)."""
        return open_scorer(score_cfg, self.length, prompt_module=self.module)

    def evaluate(self, scorer: Scorer, task) -> dict[str, float]:
        """Metrics on `task` through a scorer from `self.scorer`."""
        return scorer.evaluate(task, self.tensor)


def read_artifact(path: str | Path, flag: str = "--prompt", mixtures: bool = True) -> Artifact:
    """A plain prompt or (mixtures=True) a mixture, checked on load; a mixture where only plain prompts serve is
    refused by `load_prompt`, which points to `ptt transfer flatten`."""
    if mixtures and is_mixture(path):
        module, meta = load_mixture(path, flag=flag)
        return Artifact(str(path), meta, module=module)
    tensor, meta = load_prompt(path, flag=flag)
    return Artifact(str(path), meta, tensor=tensor)
