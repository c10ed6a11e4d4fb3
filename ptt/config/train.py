"""Configs of the jobs that load a backbone: scoring (`ScoreConfig`) and training (`TrainConfig`), each composed of
the field groups in `ptt.config.groups`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptt.config.fields import Args
from ptt.errors import PttError
from ptt.config.groups import (BackboneArgs, DataArgs, EncodeArgs, EvalDataArgs, GenerationArgs, OptimArgs,
                               PromptArgs, RunArgs, RuntimeArgs, ScoringArgs, SeedArgs, StartArgs, TrainDataArgs,
                               check_init_fits)

SCORING = (BackboneArgs, EncodeArgs, ScoringArgs, GenerationArgs, RuntimeArgs, SeedArgs, TrainDataArgs, EvalDataArgs,
           DataArgs)
"""The groups a scorer reads: backbone, encoding, scoring, decoding, runtime, seed (for weights a checkpoint lacks)
and data."""


@dataclass(frozen=True)
class ScoreConfig(*SCORING):
    """Everything a scorer of prompts on a frozen backbone reads (no optimizer, no training); jobs that score saved
    prompts build it from an artifact and their own flags (`ptt.scoring.config_for_artifact`)."""


@dataclass(frozen=True)
class TrainJob(Args):
    """`ptt train`'s own field: the task the prompt is tuned on."""

    task: str = "sst2"
    """Task name from the task table (sst2, mr, imdb, laptop, restaurant, tweeteval, snli, mnli, qnli, rte, mrpc,
    qqp)."""

    def check(self):
        check_init_fits(self.init, self.task)
        if self.lr is None or self.max_steps is None:
            raise PttError(f"--lr {self.lr} --max-steps {self.max_steps}: a training run needs both")
        self.check_evaluations(self.max_steps)


@dataclass(frozen=True)
class TrainConfig(TrainJob, RunArgs, OptimArgs, StartArgs, PromptArgs, *SCORING):
    """Everything `ptt train` decides. Field names match the CLI flags (`max_steps` <-> `--max-steps`)."""

    def run_dir(self) -> Path:
        return self.named_run_dir(self.task, self.backbone)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return super().from_dict({"batch_order": "random", **d})  # run folders older than the field: random stream

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads((Path(run_dir) / "config.json").read_text())["train"])
