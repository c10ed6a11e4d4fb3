"""Configs of the jobs beyond `ptt train`: each holds what its command decides, with defaults that fit it."""

from __future__ import annotations

from dataclasses import dataclass

from ptt.config.arms import Arm, parse_arms
from ptt.config.fields import choice, comma_list, positive, required
from ptt.config.train import INITS, RANK_CRITERIA, ScoreConfig, TrainConfig
from ptt.errors import PttError


@dataclass(frozen=True)
class EvalConfig(ScoreConfig):
    """`ptt eval`: one saved prompt scored on one task."""

    prompt: str = ""
    """Prompt artifact folder (a run's best/ or last/)."""
    task: str | None = None
    """Task to score on (default: the prompt's own task)."""
    backbone: str | None = None
    """Backbone (default: the one the prompt was trained on)."""

    def __post_init__(self):
        ScoreConfig.__post_init__(self)
        required(self, "prompt")


@dataclass(frozen=True)
class TransferEvalConfig(ScoreConfig):
    """`ptt transfer eval`: every prompt, unchanged, on every task (zero-shot cross-task transfer)."""

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

    def __post_init__(self):
        ScoreConfig.__post_init__(self)
        required(self, "prompts", "tasks", "output_dir")
        choice("init", self.init, INITS)

    def task_list(self) -> list[str]:
        return comma_list(self.tasks)


@dataclass(frozen=True)
class RankConfig(ScoreConfig):
    """`ptt transfer rank`: a library's source prompts ranked for a target task."""

    task: str = ""
    """Target task whose training sample the candidates are scored on."""
    library: str = ""
    """Folder of prompt artifacts to rank."""
    sample: int = 256
    """Training examples scored per candidate."""
    rank_by: str = "balanced_accuracy"
    """Ranking criterion of a classification target: balanced_accuracy | gold_log_prob | macro_f1 | accuracy
    (accuracy rewards a prompt that only learned the commonest label); generation targets: their primary metric."""

    def __post_init__(self):
        ScoreConfig.__post_init__(self)
        required(self, "task", "library")
        positive(self, "sample")
        choice("rank_by", self.rank_by, RANK_CRITERIA)


@dataclass(frozen=True)
class IndicatorsConfig(ScoreConfig):
    """`ptt indicators`: indicator matrices over prompts of one backbone, and their correlation with transfer."""

    prompts: tuple[str, ...] = ()
    """Prompt artifacts of one backbone (several paths after one flag, the flag repeated, or a folder)."""
    output_dir: str = ""
    """Matrices (json/csv/png) and correlations go here."""
    transfer_matrix: str | None = None
    """matrix.json from `ptt transfer eval` over the same prompts."""

    def __post_init__(self):
        ScoreConfig.__post_init__(self)
        required(self, "prompts", "output_dir")


TARGET_RULES = ("improvement", "of_best", "absolute")


@dataclass(frozen=True)
class CompareConfig(TrainConfig):
    """`ptt transfer compare`: initializations (arms) trained side by side, seed by seed, on one target task."""

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
    output_dir: str | None = None
    """Report folder."""
    target_improvement: float | None = None
    """Target = the baseline arm's step-0 + F x (its best - its step-0), per seed. Default F = 0.9."""
    target_of_best: float | None = None
    """Target = F x the baseline arm's best."""
    target_metric: float | None = None
    """Target = this absolute metric value."""

    def __post_init__(self):
        required(self, "task", "output_dir")
        if bool(self.arms) == bool(self.source):
            raise PttError("--arms/--source: give one (--source P is --arms random,from:P)")
        positive(self, "seeds")
        TrainConfig.__post_init__(self)
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
class FlattenConfig(ScoreConfig):
    """`ptt prompts flatten`: an attention mixture as one plain prompt (its prompt averaged over the training inputs)."""

    mixture: str = ""
    """Mixture artifact folder (a mixture run's best/ or last/)."""
    output_dir: str = ""
    """Where the plain prompt artifact goes."""
    task: str | None = None
    """Task whose training inputs are averaged over (default: the mixture's own task)."""
    overwrite: bool = False
    """Replace what is already in --output-dir."""

    def __post_init__(self):
        ScoreConfig.__post_init__(self)
        required(self, "mixture", "output_dir")


RECYCLE_METHODS = ("v2v-lin", "lin-comb")  # see ptt.transfer.cross_model.recycle


@dataclass(frozen=True)
class RecycleConfig:
    """`ptt transfer recycle`: a prompt moved to another backbone with no task data and no training on it."""

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

    def __post_init__(self):
        required(self, "prompt", "target_backbone", "output_dir")
        choice("method", self.method, RECYCLE_METHODS)
        positive(self, "max_tokens")


OBJECTIVES = ("distance", "task")
OBJECTIVE_DEFAULTS = {"distance": {"lr": 1e-3, "max_steps": 1000}, "task": {"lr": 5e-3, "max_steps": 150}}
"""Per objective: a regression onto fixed prompts takes many small steps; task tuning runs the backbone."""


@dataclass(frozen=True)
class ProjectFitConfig(TrainConfig):
    """`ptt transfer project fit`: a projector between two backbones' prompt spaces."""

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
    """task: comma-separated tasks (default: the source prompts' tasks)."""
    mode: str = "token"
    """token (each prompt vector on its own) or flat (the whole prompt; lengths may differ)."""
    projector_hidden: int = 768
    """Hidden units of the projector MLP."""
    target_length: int | None = None
    """Target prompt length (flat mode; default: the source length)."""
    distance: str = "mse"
    """distance objective: mse or cosine."""
    lr: float | None = None
    """Learning rate (default per objective: distance 1e-3, task 5e-3)."""
    max_steps: int | None = None
    """Optimizer steps (default per objective: distance 1000, task 150)."""
    output_dir: str | None = None
    """Writes projector.safetensors, projector.json, tb/."""

    def __post_init__(self):
        required(self, "source_backbone", "target_backbone", "objective", "source_prompts", "output_dir")
        choice("objective", self.objective, OBJECTIVES)
        choice("distance", self.distance, ("mse", "cosine"))
        for name, value in OBJECTIVE_DEFAULTS[self.objective].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        object.__setattr__(self, "backbone", self.target_backbone)
        if self.objective == "distance":  # plain PyTorch: the training-only checks below do not apply
            object.__setattr__(self, "eval_every", min(self.eval_every, self.max_steps))
        TrainConfig.__post_init__(self)

    def task_list(self) -> list[str] | None:
        return comma_list(self.tasks) or None


@dataclass(frozen=True)
class PlanConfig:
    """`ptt plan`: per-GPU memory of a prompt-tuning run, from the model config alone."""

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
    gpu_memory_gib: float = 80.0
    """GiB per GPU."""
    bytes_per_param: int = 2
    """Bytes per frozen parameter (2: bf16)."""

    def __post_init__(self):
        required(self, "backbone")
        positive(self, "gpus_per_node", "nodes", "batch_size", "seq_len", "prompt_length")
        if self.zero not in (2, 3):
            raise PttError(f"--zero {self.zero}: choose 2 or 3")
        if self.batch_size % self.world:
            raise PttError(f"--batch-size {self.batch_size}: not divisible by {self.world} GPUs "
                           f"({self.nodes} nodes x {self.gpus_per_node}); use a multiple of {self.world}")

    @property
    def world(self) -> int:
        return self.nodes * self.gpus_per_node
