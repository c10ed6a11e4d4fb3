"""Where a run's prompt starts, resolved once before setup: the config as the run folder records it (a library
start replaced by the prompt it chose), the plan with its source prompt, the library selection to write, and
the factory of an attention mixture's prompt module."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import torch

from ptt.backbone import initial_prompt
from ptt.config import TrainConfig, library_start
from ptt.runtime.artifacts import tensor_sha256
from ptt.training import TrainPlan, prompt_from_artifact
from ptt.transfer.sources.combine import average_top
from ptt.transfer.sources.mixture import DEFAULT_RANK, MixturePrompt, checked_sources
from ptt.transfer.sources.ranking import candidates, rank_library

AVERAGE_DIR = "init"
"""Under the run folder: the averaged start of --init-from avg:K, so that the folder alone reproduces the run."""


@dataclass(frozen=True)
class Start:
    """Every kind of start (--init, --init-from PATH, auto, avg:K, --mixture) as one object."""

    plan: TrainPlan
    """The checked plan of the run's config, its `source` the prompt the run starts from (None: --init or a
    mixture)."""
    selection: dict[str, Any] | None = None
    """A library start's ranking and choice (written to selection.json)."""
    prompt_module: Callable[[int, Any], torch.nn.Module] | None = None
    """--mixture: builds the mixture's prompt module (hidden size, dtype) -> module."""

    @property
    def cfg(self) -> TrainConfig:
        """The run's config (the plan's), --init-from a path when the start came from a library."""
        return self.plan.cfg


def resolve_start(plan: TrainPlan, run_dir: Path) -> Start:
    """The start of `plan.cfg` (every rank calls it: a library ranking scores on the backbone)."""
    cfg = plan.cfg
    start = library_start(cfg.init_from)
    if start is None:
        return Start(plan, None, mixture_module(cfg, plan, run_dir))
    kind, k = start
    selection = rank_library(cfg.library, cfg, length=cfg.prompt_length, strict=kind == "avg")
    selection["start"] = cfg.init_from
    if kind == "auto":
        cfg = replace(cfg, init_from=selection["choice"])
        source = prompt_from_artifact(cfg.init_from, plan.frozen.hidden, cfg.prompt_length, cfg.backbone)
        return Start(replace(plan, cfg=cfg, source=source), selection)
    tensor, made = average_top(selection, k)
    selection["choice"] = str((run_dir / AVERAGE_DIR).resolve())
    selection["average"] = made
    cfg = replace(cfg, init_from=selection["choice"])
    info = {"init": "from", "source": selection["choice"], "source_task": None, "source_backbone": cfg.backbone,
            "source_sha256": tensor_sha256(tensor.float().contiguous()), "made_from": made}
    return Start(replace(plan, cfg=cfg, source=(tensor, info)), selection)


def mixture_module(cfg: TrainConfig, plan: TrainPlan, run_dir: Path):
    """With --mixture: the factory of the attention mixture over the library's prompts (same backbone and length,
    the target task's own left out); a resumed run mixes exactly the sources it recorded (checked by hash)."""
    if not cfg.mixture:
        return None
    if cfg.resume and (run_dir / "config.json").is_file():
        entries = json.loads((run_dir / "config.json").read_text())["init"]["sources"]
        tensors = checked_sources(entries, f"--mixture {cfg.mixture}")
    else:
        usable, _ = candidates(cfg.mixture, cfg.task, cfg.backbone, cfg.prompt_length, strict=True, flag="--mixture")
        entries = [{"path": c["path"], "task": c["task"], "sha256": c["sha256"]} for c in usable]
        tensors = [c["tensor"] for c in usable]

    def make(hidden: int, dtype):
        init, info = initial_prompt(plan.frozen, cfg.init, cfg.prompt_length, cfg.seed, plan.task)
        module = MixturePrompt(torch.stack(tensors), init, rank=DEFAULT_RANK).to(dtype)
        module.init_info = {"init": "mixture", "sources": entries, "rank": DEFAULT_RANK, "new_prompt": info}
        return module

    return make
