"""`ptt transfer rank`: a prompt library's sources ranked for a target task (zero-shot on a sample of its
training set), before paying for any run."""

from __future__ import annotations

from typing import Any

from ptt.config import RankConfig
from ptt.transfer.sources.ranking import rank_library


def run(cfg: RankConfig) -> dict[str, Any]:
    return rank_library(cfg.library, cfg, sample=cfg.sample)
