"""`ptt eval`: one saved prompt scored on one task, through the scorer (no optimizer, no training engine)."""

from __future__ import annotations

from typing import Any

from ptt.config import EvalConfig
from ptt.core.tasks import get_task
from ptt.families.loading import hidden_size, load_config, require_hidden
from ptt.runtime.artifacts import load_prompt
from ptt.scoring import config_for_artifact, open_scorer


def run(cfg: EvalConfig) -> dict[str, Any]:
    """Metrics of the prompt on cfg.task (default: its own task); every rank gets them."""
    tensor, meta = load_prompt(cfg.prompt)
    changes = {"backbone": cfg.backbone, "family": None} if cfg.backbone else {}  # another backbone: detect its family
    score_cfg = config_for_artifact(meta, cfg, **changes)
    task = get_task(cfg.task or meta.get("task"))
    require_hidden(tensor, meta, cfg.prompt, score_cfg.backbone, hidden_size(load_config(score_cfg.backbone)),
                   "--prompt")
    scorer = open_scorer(score_cfg, tensor.shape[0])
    try:
        return {"task": task.name, "prompt": str(cfg.prompt), **scorer.evaluate(task, tensor)}
    finally:
        scorer.close()
