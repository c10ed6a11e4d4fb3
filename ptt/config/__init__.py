"""One typed config per job; each field's docstring is its documentation and its CLI help.

`fields.py`: reading those docstrings and the validators; `train.py`: the configs of jobs that load a
backbone (data, scoring, training); `jobs.py`: eval, transfer eval, rank, indicators, compare, projector
fitting and planning. No torch at import: the CLI builds these before anything heavy loads.
"""

from ptt.config.fields import field_docs
from ptt.config.jobs import (CompareConfig, EvalConfig, FlattenConfig, IndicatorsConfig, OBJECTIVE_DEFAULTS,
                             PlanConfig, ProjectFitConfig, RankConfig, RecycleConfig, TransferEvalConfig)
from ptt.config.train import BATCH_ORDERS, INITS, PRECISIONS, DataConfig, ScoreConfig, TrainConfig

__all__ = ["BATCH_ORDERS", "INITS", "PRECISIONS", "CompareConfig", "DataConfig", "EvalConfig", "FlattenConfig",
           "IndicatorsConfig", "OBJECTIVE_DEFAULTS", "PlanConfig", "ProjectFitConfig", "RankConfig", "RecycleConfig",
           "ScoreConfig", "TrainConfig", "TransferEvalConfig", "field_docs"]
