"""Configs of the jobs beyond `ptt train`: each is its own group of fields (`...Job`, with defaults that fit the job)
composed with the shared groups it needs (`ptt.config.groups`)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ptt.config.arms import Arm, parse_arms
from ptt.config.fields import Args, choice, comma_list, flag, positive
from ptt.config.groups import (BackboneArgs, DataArgs, EncodeArgs, EvalDataArgs, GenerationArgs, INITS, OptimArgs,
                               PromptArgs, RankByArgs, RuntimeArgs, ScoringArgs, SeedArgs, TrainDataArgs,
                               check_files_fit, check_init_fits)
from ptt.config.train import TrainConfig
from ptt.errors import PttError

EVAL_DATA = (EvalDataArgs, DataArgs)
TRAIN_DATA = (TrainDataArgs, DataArgs)


@dataclass(frozen=True)
class EvalJob(Args):
    """`ptt eval`'s own fields."""

    REQUIRED = ("prompt",)
    prompt: str = ""
    """Prompt artifact folder (a run's best/ or last/)."""
    task: str | None = None
    """Task to score on (default: the prompt's own task)."""
    backbone: str | None = None
    """Backbone (default: the one the prompt was trained on)."""


@dataclass(frozen=True)
class EvalConfig(EvalJob, ScoringArgs, GenerationArgs, RuntimeArgs, *EVAL_DATA):
    """`ptt eval`: one saved prompt scored on one task."""


@dataclass(frozen=True)
class TransferEvalJob(Args):
    """`ptt transfer eval`'s own fields."""

    REQUIRED = ("prompts", "tasks", "output_dir")
    prompts: tuple[str, ...] = ()
    """Prompt artifacts of one backbone: several paths after one flag (a shell glob), the flag repeated, or a folder
    holding artifacts."""
    tasks: str = ""
    """Comma-separated target tasks."""
    output_dir: str = ""
    """Where matrix.json/.csv/.png go."""
    no_random: bool = False
    """Leave out the random-prompt row."""
    init: str = "vocab"
    """Initialization of the random-prompt row (uniform | vocab | labels; seeded by --seed)."""

    def check(self):
        choice("init", self.init, INITS)
        check_files_fit(self, self.task_list())

    def task_list(self) -> list[str]:
        return comma_list(self.tasks)


@dataclass(frozen=True)
class TransferEvalConfig(TransferEvalJob, SeedArgs, ScoringArgs, GenerationArgs, RuntimeArgs, *EVAL_DATA):
    """`ptt transfer eval`: every prompt, unchanged, on every task (zero-shot cross-task transfer)."""


@dataclass(frozen=True)
class RankJob(Args):
    """`ptt transfer rank`'s own fields."""

    REQUIRED = ("task", "library")
    task: str = ""
    """Target task whose training sample the candidates are scored on."""
    library: str = ""
    """Folder of prompt artifacts to rank."""
    sample: int = 256
    """Training examples scored per candidate."""

    def check(self):
        positive(self, "sample")


@dataclass(frozen=True)
class RankConfig(RankJob, RankByArgs, BackboneArgs, EncodeArgs, SeedArgs, ScoringArgs, GenerationArgs, RuntimeArgs,
                 *TRAIN_DATA):
    """`ptt transfer rank`: a library's source prompts ranked for a target task."""


@dataclass(frozen=True)
class IndicatorsJob(Args):
    """`ptt indicators`' own fields."""

    REQUIRED = ("prompts", "output_dir")
    prompts: tuple[str, ...] = ()
    """Prompt artifacts of one backbone (several paths after one flag, the flag repeated, or a folder)."""
    output_dir: str = ""
    """Matrices (json/csv/png) and correlations go here."""
    transfer_matrix: str | None = None
    """matrix.json from `ptt transfer eval` over the same prompts."""


@dataclass(frozen=True)
class IndicatorsConfig(IndicatorsJob, RuntimeArgs):
    """`ptt indicators`: indicator matrices over prompts of one backbone, and their correlation with transfer."""


TARGET_RULES = ("improvement", "of_best", "absolute")


@dataclass(frozen=True)
class CompareJob(Args):
    """`ptt transfer compare`'s own fields."""

    REQUIRED = ("task", "output_dir")
    task: str = ""
    """Target task (required: the comparison trains on it)."""
    arms: str | None = None
    """Comma-separated starts to compare: random, vocab, labels, from:PATH, auto:LIB, avg:LIB[:K], mix:LIB,
    recycle:PATH."""
    source: str | None = None
    """Source prompt artifact: the same as --arms random,from:SOURCE."""
    baseline_arm: str | None = None
    """Arm the others are paired against (default: random when listed, else the first arm)."""
    backbone: str | None = None
    """Target backbone (default: that of the first from: arm's prompt, else of the first library arm's prompts)."""
    seeds: int = 3
    """Seeds per arm (seed, seed+1, ...)."""
    output_dir: str = ""
    """Report folder."""
    target_improvement: float | None = None
    """Target = the baseline arm's step-0 + F x (its best - its step-0), per seed. Default F = 0.9."""
    target_of_best: float | None = None
    """Target = F x the baseline arm's best."""
    target_metric: float | None = None
    """Target = this absolute metric value."""

    def check(self):
        if bool(self.arms) == bool(self.source):
            raise PttError("--arms/--source: give one (--source P is --arms random,from:P)")
        positive(self, "seeds")
        check_init_fits(self.init, self.task)
        self.check_evaluations(self.max_steps)
        self.arm_list()  # a malformed --arms fails here, before anything loads
        if sum(v is not None for v in (self.target_improvement, self.target_of_best, self.target_metric)) > 1:
            raise PttError("--target-improvement/--target-of-best/--target-metric: give at most one")

    def arm_list(self) -> list[Arm]:
        return parse_arms(self.arms or f"random,from:{self.source}")

    def target_rule(self) -> tuple[str, float]:
        for kind, value in zip(TARGET_RULES, (self.target_improvement, self.target_of_best, self.target_metric)):
            if value is not None:
                return kind, value
        return "improvement", 0.9


@dataclass(frozen=True)
class CompareConfig(CompareJob, OptimArgs, PromptArgs, RankByArgs, EncodeArgs, SeedArgs, ScoringArgs, GenerationArgs,
                    RuntimeArgs, *TRAIN_DATA, EvalDataArgs):
    """`ptt transfer compare`: initializations (arms) trained side by side, seed by seed, on one target task (every
    arm's run: `TrainConfig.of(this config)` with the arm's start, seed and run folder)."""


@dataclass(frozen=True)
class FlattenJob(Args):
    """`ptt prompts flatten`'s own fields."""

    REQUIRED = ("mixture", "output_dir")
    mixture: str = ""
    """Mixture artifact folder (a mixture run's best/ or last/)."""
    output_dir: str = ""
    """Where the plain prompt artifact goes."""
    task: str | None = None
    """Task whose training inputs are averaged over (default: the mixture's own task)."""
    overwrite: bool = False
    """Replace what is already in --output-dir."""


@dataclass(frozen=True)
class FlattenConfig(FlattenJob, ScoringArgs, RuntimeArgs, *TRAIN_DATA):
    """`ptt prompts flatten`: an attention mixture as one plain prompt (its prompt averaged over the training inputs)."""


RECYCLE_METHODS = ("v2v-lin", "lin-comb")  # see ptt.transfer.cross_model.recycle


@dataclass(frozen=True)
class RecycleConfig(Args):
    """`ptt transfer recycle`: a prompt moved to another backbone with no task data and no training on it."""

    REQUIRED = ("prompt", "target_backbone", "output_dir")
    prompt: str = ""
    """Prompt artifact of the source backbone."""
    target_backbone: str = ""
    """Backbone to recycle the prompt into (HF name or local folder)."""
    method: str = "v2v-lin"
    """v2v-lin (one least-squares linear map between the shared tokens' embeddings) or lin-comb (each prompt vector
    as a combination of its 64 nearest shared source embeddings, rebuilt from the same tokens' target embeddings)."""
    output_dir: str = ""
    """Where the recycled prompt artifact goes."""
    max_tokens: int = 20000
    """Shared tokens the map is fitted on (the most frequent first)."""
    overwrite: bool = False
    """Replace an artifact already in --output-dir."""

    def check(self):
        choice("method", self.method, RECYCLE_METHODS)
        positive(self, "max_tokens")


OBJECTIVES = ("distance", "task")
UNREAD_WHY = {"distance": "it fits the projector to --target-prompts and runs no backbone",
              "task": "--target-prompts and --distance are the distance objective's"}
"""Why an objective ignores the fields `ProjectFitConfig.unread` names (said when one is given)."""
OBJECTIVE_DEFAULTS = {"distance": {"lr": 1e-3, "max_steps": 1000}, "task": {"lr": 5e-3, "max_steps": 150}}
"""Per objective: a regression onto fixed prompts takes many small steps; task tuning runs the backbone."""


@dataclass(frozen=True)
class ProjectFitJob(Args):
    """`ptt transfer project fit`'s own fields; its --lr and --max-steps default per objective."""

    REQUIRED = ("source_backbone", "target_backbone", "objective", "source_prompts", "output_dir")
    source_backbone: str = ""
    """Backbone the source prompts were trained on."""
    target_backbone: str = ""
    """Backbone to map prompts into."""
    objective: str = ""
    """distance (regress onto target-backbone prompts of the same tasks) or task (the target's task loss)."""
    source_prompts: tuple[str, ...] = ()
    """Source prompt artifacts (several paths after one flag, the flag repeated, or a folder)."""
    target_prompts: tuple[str, ...] = ()
    """distance: target-backbone prompts of the same tasks."""
    tasks: str | None = None
    """Comma-separated tasks (default: task: the source prompts' tasks; distance: every task with a prompt on both
    backbones)."""
    mode: str = "token"
    """token (each prompt vector on its own) or flat (the whole prompt; lengths may differ)."""
    projector_hidden: int = 768
    """Hidden units of the projector MLP."""
    target_length: int | None = None
    """Target prompt length (flat mode; default: the source length)."""
    distance: str = "mse"
    """distance objective: mse or cosine."""
    output_dir: str = ""
    """Writes projector.safetensors, projector.json, config.json and tb/ (and, for the task objective, the training
    run's ds_config.json and metrics.jsonl)."""
    overwrite: bool = False
    """Replace a projector fit in --output-dir (its files only; anything else there stays)."""
    lr: float | None = None
    """Learning rate (default per objective: distance 1e-3, task 5e-3)."""
    max_steps: int | None = None
    """Optimizer steps (default per objective: distance 1000, task 150)."""

    def check(self):
        choice("objective", self.objective, OBJECTIVES)
        choice("distance", self.distance, ("mse", "cosine"))
        choice("mode", self.mode, ("token", "flat"))
        positive(self, "projector_hidden", "target_length")
        if self.objective == "task":  # the distance objective does not evaluate
            self.check_evaluations(self.steps)

    @property
    def steps(self) -> int:
        """--max-steps, or the objective's default."""
        return OBJECTIVE_DEFAULTS[self.objective]["max_steps"] if self.max_steps is None else self.max_steps

    @property
    def rate(self) -> float:
        """--lr, or the objective's default."""
        return OBJECTIVE_DEFAULTS[self.objective]["lr"] if self.lr is None else self.lr

    def task_list(self) -> list[str] | None:
        return comma_list(self.tasks) or None


@dataclass(frozen=True)
class ProjectFitConfig(ProjectFitJob, OptimArgs, EncodeArgs, SeedArgs, ScoringArgs, GenerationArgs, RuntimeArgs,
                       *TRAIN_DATA, EvalDataArgs):
    """`ptt transfer project fit`: a projector between two backbones' prompt spaces."""

    def check(self):
        """Flags the objective does not read are refused (all of them named at once), not silently ignored."""
        unread, other = self.unread(), "task" if self.objective == "distance" else "distance"
        given = [f"{f.metadata.get('flag', flag(f.name))} {' '.join(v) if isinstance(v, tuple) else v}"
                 for f in fields(self) if f.name in unread and (v := getattr(self, f.name)) != f.default]
        if given:
            it = "it" if len(given) == 1 else "them"
            raise PttError(f"{', '.join(given)}: the {self.objective} objective does not read {it} "
                           f"({UNREAD_WHY[self.objective]}); drop {it}, or use --objective {other}")
        if len(set(self.task_list() or [])) != len(self.task_list() or []):
            raise PttError(f"--tasks {self.tasks}: a task named twice; name each task once")

    def read_fields(self) -> dict:
        """The fields this job's objective reads, with --lr and --max-steps resolved (what config.json records)."""
        unread = self.unread()
        return {**{f.name: getattr(self, f.name) for f in fields(self) if f.name not in unread},
                "lr": self.rate, "max_steps": self.steps}

    def unread(self) -> set[str]:
        """The fields this job's objective ignores."""
        if self.objective == "task":
            return {"target_prompts", "distance"}
        reads = {f.name for f in fields(ProjectFitJob)} - {"target_length"} | {"seed"}
        return {f.name for f in fields(self)} - reads

    def task_config(self, **changes) -> TrainConfig:
        """The training run of the task objective: the target backbone, this job's optimization, `changes`."""
        return TrainConfig.of(self, backbone=self.target_backbone, lr=self.rate, max_steps=self.steps, **changes)


@dataclass(frozen=True)
class PlanConfig(Args):
    """`ptt plan`: per-GPU memory of a prompt-tuning run, from the model config alone."""

    REQUIRED = ("backbone",)
    backbone: str = ""
    """HF name or a folder with config.json (no weights are loaded)."""
    gpus_per_node: int = 8
    """GPUs per node."""
    nodes: int = 1
    """Nodes."""
    zero: int = 3
    """ZeRO stage: 2 or 3."""
    batch_size: int = 32
    """Global batch size."""
    seq_len: int = 128
    """Text tokens per example."""
    prompt_length: int = 100
    """Soft prompt vectors."""
    offload: bool = False
    """Frozen weights in CPU memory (zero3_offload)."""
    gradient_checkpointing: bool = False
    """Activations recomputed layer by layer in the backward pass (ptt train --gradient-checkpointing)."""
    gpu_memory_gib: float = field(default=80.0, metadata={"flag": "--gpu-memory"})
    """GiB per GPU."""
    bytes_per_param: int = 2
    """Bytes per frozen parameter (2: bf16, 4: fp32)."""

    def check(self):
        positive(self, "gpus_per_node", "nodes", "batch_size", "seq_len", "prompt_length", "bytes_per_param")
        if self.zero not in (2, 3):
            raise PttError(f"--zero {self.zero}: choose 2 or 3")
        if self.batch_size % self.world:
            raise PttError(f"--batch-size {self.batch_size}: not divisible by {self.world} GPUs "
                           f"({self.nodes} nodes x {self.gpus_per_node}); use a multiple of {self.world}")

    @property
    def world(self) -> int:
        return self.nodes * self.gpus_per_node
