"""`ptt eval`: one saved prompt (or attention mixture) scored on one task, through the scorer (no optimizer, no
training engine)."""

from __future__ import annotations

from typing import Any

from ptt.config import EvalConfig
from ptt.core.tasks import get_task
from ptt.families.loading import hidden_size, load_config
from ptt.scoring import config_for_artifact
from ptt.transfer.sources.artifact import read_artifact


def run(cfg: EvalConfig) -> dict[str, Any]:
    """Metrics of the prompt on cfg.task (default: its own task); every rank gets them. A mixture is scored as the
    model's own prompt module (a prompt per input); its sources are checked when it loads."""
    artifact = read_artifact(cfg.prompt)
    changes = {"backbone": cfg.backbone, "family": None} if cfg.backbone else {}  # another backbone: detect its family
    score_cfg = config_for_artifact(artifact.meta, cfg, **changes)
    task = get_task(cfg.task or artifact.task)
    artifact.require_fits(score_cfg.backbone, hidden_size(load_config(score_cfg.backbone)), "--prompt")
    scorer = artifact.scorer(score_cfg)
    try:
        return {"task": task.name, "prompt": str(cfg.prompt), **artifact.evaluate(scorer, task)}
    finally:
        scorer.close()
