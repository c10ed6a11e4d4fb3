"""One typed config per job, composed of field groups; each field's docstring is its documentation and its CLI help.

`fields.py`: `Args` (the base of groups and jobs: checks, `of`, dicts), reading the docstrings, the validators;
`groups.py`: the shared groups (data, backbone, encoding, runtime, scoring, seed, prompt, start, optimization, run
folder); `train.py`: the scorer's and `ptt train`'s configs; `jobs.py`: eval, transfer eval, rank, indicators,
compare, flatten, recycle, projector fitting and planning. No torch at import: the CLI builds these before anything
heavy loads.
"""

from ptt.config.fields import Args, field_docs
from ptt.config.groups import BATCH_ORDERS, INITS, PRECISIONS, library_start
from ptt.config.jobs import (CompareConfig, EvalConfig, FlattenConfig, IndicatorsConfig, OBJECTIVE_DEFAULTS,
                             PlanConfig, ProjectFitConfig, RankConfig, RecycleConfig, TransferEvalConfig)
from ptt.config.train import ScoreConfig, TrainConfig

__all__ = ["Args", "BATCH_ORDERS", "INITS", "PRECISIONS", "CompareConfig", "EvalConfig", "FlattenConfig",
           "IndicatorsConfig", "OBJECTIVE_DEFAULTS", "PlanConfig", "ProjectFitConfig", "RankConfig", "RecycleConfig",
           "ScoreConfig", "TrainConfig", "TransferEvalConfig", "field_docs", "library_start"]
