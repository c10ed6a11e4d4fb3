"""`ptt eval`: one saved prompt (or attention mixture) scored on one task, through the scorer (no optimizer, no
training engine)."""

from __future__ import annotations

from typing import Any

from ptt.config import EvalConfig
from ptt.core.tasks import get_task
from ptt.errors import PttError
from ptt.families.loading import hidden_size, load_config, require_hidden
from ptt.runtime.artifacts import load_prompt
from ptt.scoring import config_for_artifact, open_scorer
from ptt.transfer.mixture import is_mixture, load_mixture


def run(cfg: EvalConfig) -> dict[str, Any]:
    """Metrics of the prompt on cfg.task (default: its own task); every rank gets them. A mixture is scored as the
    model's own prompt module (a prompt per input); its sources are checked when it loads."""
    if is_mixture(cfg.prompt):  # no tensor: the scorer runs the mixture as the model's prompt module
        (module, meta), tensor = load_mixture(cfg.prompt), None
    else:
        module, (tensor, meta) = None, load_prompt(cfg.prompt)
    changes = {"backbone": cfg.backbone, "family": None} if cfg.backbone else {}  # another backbone: detect its family
    score_cfg = config_for_artifact(meta, cfg, **changes)
    task = get_task(cfg.task or meta.get("task"))
    hidden = hidden_size(load_config(score_cfg.backbone))
    if module is None:
        require_hidden(tensor, meta, cfg.prompt, score_cfg.backbone, hidden, "--prompt")
    elif meta["hidden_size"] != hidden:  # a projector maps plain prompts, not mixtures
        raise PttError(f"--prompt {cfg.prompt}: a mixture of hidden size {meta['hidden_size']} but "
                       f"{score_cfg.backbone} has {hidden}; score it on the backbone it was trained on "
                       f"({meta.get('backbone')})")
    scorer = open_scorer(score_cfg, meta["length"], prompt_module=module)
    try:
        return {"task": task.name, "prompt": str(cfg.prompt), **scorer.evaluate(task, tensor)}
    finally:
        scorer.close()
