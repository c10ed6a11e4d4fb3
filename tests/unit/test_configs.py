"""One config per job: every field documented once, that text is the CLI help, and each job's defaults."""

from __future__ import annotations

import dataclasses

import click
import pytest

from ptt.cli import main
from ptt.config import (OBJECTIVE_DEFAULTS, CompareConfig, EvalConfig, IndicatorsConfig, PlanConfig, ProjectFitConfig,
                        RankConfig, TrainConfig, TransferEvalConfig, field_docs)
from ptt.errors import PttError

CONFIGS = (TrainConfig, EvalConfig, TransferEvalConfig, RankConfig, IndicatorsConfig, CompareConfig, ProjectFitConfig,
           PlanConfig)
COMMANDS = {("train",): TrainConfig, ("eval",): EvalConfig, ("plan",): PlanConfig,
            ("transfer", "eval"): TransferEvalConfig, ("transfer", "compare"): CompareConfig,
            ("transfer", "project", "fit"): ProjectFitConfig, ("transfer", "rank"): RankConfig,
            ("indicators",): IndicatorsConfig}


@pytest.mark.parametrize("cls", CONFIGS)
def test_every_field_has_a_docstring(cls):
    docs = field_docs(cls)
    missing = [f.name for f in dataclasses.fields(cls) if not docs.get(f.name)]
    assert not missing, f"{cls.__name__}: fields without a docstring: {missing}"


@pytest.mark.parametrize("path,cls", COMMANDS.items())
def test_cli_help_is_the_field_docstring(path, cls):
    cmd = main
    for name in path:
        cmd = cmd.commands[name]
    docs = field_docs(cls)
    options = [p for p in cmd.params if isinstance(p, click.Option) and not p.hidden and p.name in docs]
    assert len(options) >= 3
    for opt in options:
        assert opt.help == docs[opt.name], (path, opt.name)


@pytest.mark.parametrize("objective", ["distance", "task"])
def test_projector_defaults_follow_the_objective(objective):
    cfg = ProjectFitConfig(source_backbone="a", target_backbone="b", objective=objective, source_prompts=("p",),
                           target_prompts=("q",), output_dir="o")
    assert (cfg.lr, cfg.max_steps) == (OBJECTIVE_DEFAULTS[objective]["lr"], OBJECTIVE_DEFAULTS[objective]["max_steps"])
    assert ProjectFitConfig(source_backbone="a", target_backbone="b", objective=objective, source_prompts=("p",),
                            target_prompts=("q",), output_dir="o", lr=0.2).lr == 0.2


@pytest.mark.parametrize("cls,kwargs,match", [
    (CompareConfig, {"source": "s", "output_dir": "o"}, "--task: required"),
    (ProjectFitConfig, {"source_backbone": "a", "target_backbone": "b", "objective": "closest",
                        "source_prompts": ("p",), "output_dir": "o"}, "--objective closest"),
    (RankConfig, {"task": "sst2"}, "--library: required"),
    (EvalConfig, {}, "--prompt: required"),
    (TrainConfig, {"family": "decoder"}, "--family decoder"),
])
def test_job_configs_refuse_missing_or_bad_fields(cls, kwargs, match):
    with pytest.raises(PttError, match=match) as e:
        cls(**kwargs)
    assert e.value.exit_code == 2
