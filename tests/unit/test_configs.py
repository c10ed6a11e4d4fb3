"""One config per job: every field documented once, that text is the CLI help, and each job's defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click
import pytest

import ptt
from ptt.cli import main
from ptt.config import (CompareConfig, EvalConfig, IndicatorsConfig, PlanConfig, ProjectFitConfig,
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
def test_cli_offers_every_field_of_the_config_with_its_docstring(path, cls):
    """The options are generated from the config's groups: one per field (no hand-kept list leaves one out), its
    help the field docstring, required exactly where a group says so."""
    cmd = main
    for name in path:
        cmd = cmd.commands[name]
    docs = field_docs(cls)
    options = {p.name: p for p in cmd.params if isinstance(p, click.Option) and not p.hidden}
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(options) - fields <= {"as_json"}, set(options) - fields  # plan's --json prints, it configures nothing
    assert fields <= set(options), fields - set(options)
    for name in fields:
        assert options[name].help == docs[name], (path, name)
        assert options[name].required == (name in cls.required_fields()), (path, name)


def test_compare_takes_every_data_optimization_and_prompt_flag_of_train():
    """A comparison trains like `ptt train`: every data-, optimization- and prompt-group flag of train is there,
    and none of the run folder's (compare names its runs)."""
    from ptt.config.groups import DataArgs, EvalDataArgs, OptimArgs, PromptArgs, RunArgs, TrainDataArgs

    compare = {p.name for p in main.commands["transfer"].commands["compare"].params}
    for group in (DataArgs, TrainDataArgs, EvalDataArgs, OptimArgs, PromptArgs):
        assert {f.name for f in dataclasses.fields(group)} <= compare, group.__name__
    assert not {"resume", "overwrite", "save_every", "tb_dir"} & compare
    assert {f.name for f in dataclasses.fields(RunArgs)} & compare == {"output_dir"}  # compare's own: its report


def test_each_field_is_declared_by_one_group():
    """Field names are unique across the groups a job composes (a config stays flat: one flag, one config.json
    key); the only redeclarations are projector fitting's per-objective --lr and --max-steps."""
    repeated = set()
    for cls in CONFIGS:
        seen: set[str] = set()
        for klass in reversed(cls.__mro__):
            for name in vars(klass).get("__annotations__", {}):
                if name in seen and name != "REQUIRED":
                    repeated.add((cls.__name__, name))
                seen.add(name)
    assert repeated == {("ProjectFitConfig", "lr"), ("ProjectFitConfig", "max_steps")}


def test_a_group_checks_its_fields_in_every_job_that_composes_it():
    for cls, extra in ((TrainConfig, {}), (RankConfig, {"task": "sst2", "library": "l"}),
                       (CompareConfig, {"task": "sst2", "source": "s", "output_dir": "o"})):
        with pytest.raises(PttError, match="--max-length 0: must be a positive integer"):
            cls(max_length=0, **extra)
        with pytest.raises(PttError, match="--max-train-examples -3"):
            cls(max_train_examples=-3, **extra)


def test_configs_are_never_changed_after_construction():
    """Frozen configs stay frozen: defaults that depend on other fields are derived, not written in."""
    root = Path(ptt.__file__).parent
    for path in root.rglob("*.py"):
        assert "object.__setattr__" not in path.read_text(), path.relative_to(root)


@pytest.mark.parametrize("objective,lr,written,steps", [("distance", 1e-3, "1e-3", 1000), ("task", 5e-3, "5e-3", 150)])
def test_projector_defaults_follow_the_objective(objective, lr, written, steps):
    """The documented defaults (--lr, --max-steps help), written out rather than read back from the table."""
    own = {"target_prompts": ("q",)} if objective == "distance" else {}
    cfg = ProjectFitConfig(source_backbone="a", target_backbone="b", objective=objective, source_prompts=("p",),
                           output_dir="o", **own)
    assert (cfg.lr, cfg.max_steps) == (None, None)  # not given: the fields say so, the objective decides
    assert (cfg.rate, cfg.steps) == (lr, steps)
    assert f"{objective} {written}" in field_docs(ProjectFitConfig)["lr"]
    assert f"{objective} {steps}" in field_docs(ProjectFitConfig)["max_steps"]
    own = {"target_prompts": ("q",)} if objective == "distance" else {"eval_every": 7}
    given = ProjectFitConfig(source_backbone="a", target_backbone="b", objective=objective, source_prompts=("p",),
                             output_dir="o", lr=0.2, max_steps=7, **own)
    assert (given.rate, given.steps) == (0.2, 7)
    if objective == "task":
        run = given.task_config(task="mr")
        assert (run.backbone, run.lr, run.max_steps, run.task, run.output_dir) == ("b", 0.2, 7, "mr", "o")


@pytest.mark.parametrize("objective,given,named", [
    ("distance", {"warmup_steps": 10}, "--warmup-steps 10"),
    ("distance", {"on_nonfinite": "skip"}, "--on-nonfinite skip"),
    ("distance", {"train_file": "train.csv"}, "--train-file train.csv"),
    ("distance", {"batch_size": 8}, "--batch-size 8"),
    ("distance", {"precision": "bf16"}, "--precision bf16"),
    ("distance", {"eval_every": 5}, "--eval-every 5"),
    ("distance", {"target_length": 8}, "--target-length 8"),
    ("task", {"target_prompts": ("q", "r")}, "--target-prompts q r"),
    ("task", {"distance": "cosine"}, "--distance cosine"),
])
def test_project_fit_refuses_a_flag_its_objective_ignores(objective, given, named):
    other = "task" if objective == "distance" else "distance"
    with pytest.raises(PttError, match=f"^{named}: the {objective} objective does not read it .*--objective {other}$"):
        ProjectFitConfig(source_backbone="a", target_backbone="b", objective=objective, source_prompts=("p",),
                         output_dir="o", **given)


def test_project_fit_names_every_ignored_flag_at_once_and_a_repeated_task():
    with pytest.raises(PttError, match="^--train-file x.csv, --batch-size 4, --warmup-steps 2: the distance objective "
                                       "does not read them .*drop them, or use --objective task$"):
        ProjectFitConfig(source_backbone="a", target_backbone="b", objective="distance", source_prompts=("p",),
                         output_dir="o", warmup_steps=2, batch_size=4, train_file="x.csv")
    with pytest.raises(PttError, match="--tasks sst2,sst2: a task named twice"):
        ProjectFitConfig(source_backbone="a", target_backbone="b", objective="distance", source_prompts=("p",),
                         output_dir="o", tasks="sst2,sst2")


def test_project_fit_objectives_read_what_they_are_given():
    """What each objective reads is accepted: the distance fit's seed, steps, rate and task list; every training and
    data flag of the task objective."""
    ProjectFitConfig(source_backbone="a", target_backbone="b", objective="distance", source_prompts=("p",),
                     target_prompts=("q",), output_dir="o", seed=3, lr=0.1, max_steps=5, tasks="sst2", mode="flat",
                     distance="cosine", projector_hidden=8, overwrite=True)
    cfg = ProjectFitConfig(source_backbone="a", target_backbone="b", objective="task", source_prompts=("p",),
                           output_dir="o", warmup_steps=2, on_nonfinite="skip", train_file="t.csv", batch_size=8,
                           target_length=6, max_steps=10, eval_every=5, seed=3)
    assert cfg.unread() == {"target_prompts", "distance"}
    read = cfg.read_fields()  # what config.json records: the read fields, --lr and --max-steps resolved
    assert "target_prompts" not in read and (read["warmup_steps"], read["lr"], read["max_steps"]) == (2, 5e-3, 10)


def test_projector_task_objective_refuses_an_evaluation_past_its_steps():
    with pytest.raises(PttError, match="--eval-every 50: larger than --max-steps 20"):
        ProjectFitConfig(source_backbone="a", target_backbone="b", objective="task", source_prompts=("p",),
                         output_dir="o", max_steps=20)
    ProjectFitConfig(source_backbone="a", target_backbone="b", objective="distance", source_prompts=("p",),
                     output_dir="o", max_steps=20)  # the distance objective does not evaluate


@pytest.mark.parametrize("cls,kwargs,match", [
    (CompareConfig, {"source": "s", "output_dir": "o"}, "--task: required"),
    (ProjectFitConfig, {"source_backbone": "a", "target_backbone": "b", "objective": "closest",
                        "source_prompts": ("p",), "output_dir": "o"}, "--objective closest"),
    (RankConfig, {"task": "sst2"}, "--library: required"),
    (EvalConfig, {}, "--prompt: required"),
    (TrainConfig, {"family": "decoder"}, "--family decoder"),
    (TransferEvalConfig, {"prompts": ("p",), "tasks": "sst2,mr", "output_dir": "o", "eval_file": "dev.csv"},
     "--eval-file dev.csv: one file, but 2 tasks"),
    (TrainConfig, {"max_steps": 10, "eval_every": 20}, "--eval-every 20: larger than --max-steps 10"),
    (CompareConfig, {"task": "sst2", "source": "s", "output_dir": "o", "max_steps": 10, "eval_every": 20},
     "--eval-every 20: larger than --max-steps 10"),
])
def test_job_configs_refuse_missing_or_bad_fields(cls, kwargs, match):
    with pytest.raises(PttError, match=match) as e:
        cls(**kwargs)
    assert e.value.exit_code == 2
