"""`ptt train`: the training recipe (`ptt.recipe.train`) on the config the flags give, or, with --resume, on the
saved run's config with the given flags on top."""

from __future__ import annotations

from typing import Any

from ptt.config import TrainConfig
from ptt.recipe.train import resume_config, run

__all__ = ["config", "run"]


def config(given: dict[str, Any], resume: bool) -> TrainConfig:
    """The run's config: `given` (every flag) for a new run; for --resume only the flags the user gave, on top
    of the saved run's."""
    return resume_config(given) if resume else TrainConfig(**given)
