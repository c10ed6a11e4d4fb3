"""Configs of the jobs that load a backbone: scoring (`ScoreConfig`) and training (`TrainConfig`).

Field groups are shared by inheritance so that each field has one docstring, which is also its CLI help.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptt.config.arms import DEFAULT_K
from ptt.config.fields import choice, positive
from ptt.core.tasks import get_task
from ptt.errors import PttError

PRECISIONS = ("auto", "fp32", "bf16")
RANK_CRITERIA = ("balanced_accuracy", "gold_log_prob", "macro_f1", "accuracy")  # see ptt.transfer.sources.ranking
INITS = ("uniform", "vocab", "labels")
BATCH_ORDERS = ("grouped", "random")  # see ptt.core.order
DATA_SOURCES = ("local", "hub")


def library_start(init_from: str | None) -> tuple[str, int] | None:
    """("auto", 1) or ("avg", K) for a start chosen from --library; None for a path or no --init-from.

    `avg:K` with K not a positive integer is refused (a path that merely starts with "avg" is read as a path).
    """
    if init_from == "auto":
        return "auto", 1
    if init_from == "avg":
        return "avg", DEFAULT_K
    if init_from and init_from.startswith("avg:"):
        k = init_from[4:]
        if not k.isdigit() or int(k) < 1:
            raise PttError(f"--init-from {init_from}: K must be a positive integer (e.g. avg:3)")
        return "avg", int(k)
    return None


@dataclass(frozen=True)
class DataConfig:
    """Where a task's examples come from."""

    data_dir: str | None = None
    """Folder laid out like ptt/assets/data (e.g. a full copy of the data); default: the slices shipped with ptt."""
    data_source: str = "local"
    """local (files) or hub (datasets.load_dataset of the task's hub dataset)."""
    train_file: str | None = None
    """Local csv/tsv/json/jsonl training file (labels: the task's label names or indices)."""
    eval_file: str | None = None
    """Local csv/tsv/json/jsonl evaluation file instead of the task's eval split."""
    text_field: str | None = None
    """Text column(s) of --train-file/--eval-file, comma-separated (two for pair tasks)."""
    label_field: str = "label"
    """Label column of --train-file/--eval-file."""
    max_train_examples: int | None = None
    """Use at most this many training examples."""
    max_eval_examples: int | None = None
    """Use at most this many evaluation examples."""

    def __post_init__(self):
        positive(self, "max_train_examples", "max_eval_examples")
        choice("data_source", self.data_source, DATA_SOURCES)


@dataclass(frozen=True)
class ScoreConfig(DataConfig):
    """Everything a job that scores prompts on a frozen backbone decides (no optimizer, no training)."""

    backbone: str = "minilm"
    """HF hub name, local model folder, or `minilm` (the bundled all-MiniLM-L6-v2)."""
    family: str | None = None
    """seq2seq | masked_lm | causal_lm | encoder (default: detected from the model config)."""
    max_length: int = 128
    """Text tokens per example (the prompt comes on top)."""
    eval_batch_size: int = 64
    """Prompted sequences per evaluation forward pass, per rank (prompts scored together share it)."""
    max_new_tokens: int | None = None
    """Generation tasks: tokens decoded per example at evaluation (default: the task's own budget)."""
    precision: str = "auto"
    """auto | fp32 | bf16 (auto: bf16 on CUDA, fp32 on CPU, where bf16 is emulated and slow)."""
    ds_config: str | None = None
    """DeepSpeed config: a JSON path or zero3_bf16 | zero2_bf16 | zero3_offload (default zero3_bf16; zero2_bf16 for
    a single CPU process)."""
    seed: int = 42
    """Seed for the prompt initialization and the data order."""

    def __post_init__(self):
        DataConfig.__post_init__(self)
        positive(self, "max_length", "eval_batch_size", "max_new_tokens")
        choice("precision", self.precision, PRECISIONS)
        if self.family is not None:
            from ptt.families import get_family  # deferred: pulls in torch, needed only when --family is given

            get_family(self.family)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class TrainConfig(ScoreConfig):
    """Everything `ptt train` decides. Field names match the CLI flags (`max_steps` <-> `--max-steps`)."""

    task: str = "sst2"
    """Task name from the task table (sst2, mr, imdb, laptop, restaurant, tweeteval, snli, mnli, qnli, rte, mrpc,
    qqp)."""
    prompt_length: int = 100
    """Number of soft prompt vectors."""
    init: str = "vocab"
    """Prompt initialization: uniform (U(-0.5, 0.5)) | vocab (embeddings of frequent tokens) | labels (label
    words first)."""
    init_from: str | None = None
    """Start from a saved prompt artifact (transferred initialization); `auto`: the library's top-ranked prompt;
    `avg` or `avg:K`: the mean of its top K (default 3). auto and avg need --library."""
    library: str | None = None
    """With --init-from auto/avg: folder of prompt artifacts, ranked for --task (selection.json in the run)."""
    rank_by: str = "balanced_accuracy"
    """How library prompts are ranked for a classification target (zero-shot on a training sample):
    balanced_accuracy | gold_log_prob | macro_f1 | accuracy (accuracy rewards a prompt that only learned the
    commonest label). Generation targets rank by their primary metric."""
    mixture: str | None = None
    """Train an attention mixture (ATTEMPT) instead of a plain prompt: the prompts of this library folder stay
    frozen, a new prompt (--init) and a small attention module over the pooled input learn to mix them per input."""
    max_steps: int = 150
    """Optimizer steps."""
    eval_every: int = 50
    """Evaluate (and save last/, best/) every this many steps."""
    save_every: int | None = None
    """Write resume state every this many steps (default: every evaluation)."""
    batch_size: int = 16
    """Global batch size (micro batch x gradient accumulation x ranks)."""
    micro_batch_size: int | None = None
    """Per-rank batch per forward pass (default: the whole per-rank share)."""
    batch_order: str = "grouped"
    """grouped (batches of similar-length examples, less padding; each epoch still sees every example once) or
    random."""
    lr: float = 0.1
    """Learning rate (AdamW)."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    warmup_steps: int = 0
    """Linear warmup steps, then constant."""
    max_grad_norm: float = 1.0
    """Gradient clipping norm."""
    gradient_checkpointing: bool = False
    """Recompute the frozen backbone's layer activations in the backward pass instead of keeping them (less
    activation memory, about one more forward of compute; the prompt's gradient is unchanged)."""
    output_dir: str | None = None
    """Run folder (default: ./runs/<task>-<backbone>-<time>)."""
    resume: bool = False
    """Continue the run in --output-dir from its newest resume state (flags not given keep the run's values)."""
    overwrite: bool = False
    """Replace the run in --output-dir."""
    log_every: int = 10
    """Log loss and throughput every this many steps."""
    on_nonfinite: str = "stop"
    """On a NaN/inf loss: stop (name the step, exit 2) or skip (drop the step, count it in train/skipped_steps)."""
    tb_dir: str | None = None
    """TensorBoard folder (default: OUTPUT/tb)."""

    def __post_init__(self):
        ScoreConfig.__post_init__(self)
        positive(self, "prompt_length", "max_steps", "eval_every", "batch_size", "log_every", "micro_batch_size",
                 "save_every")
        choice("init", self.init, INITS)
        choice("on_nonfinite", self.on_nonfinite, ("stop", "skip"))
        choice("batch_order", self.batch_order, BATCH_ORDERS)
        task = get_task(self.task)  # an unknown --task fails here, before any model is loaded
        if self.init == "labels" and task.kind != "classification":
            raise PttError(f"--init labels: --task {self.task} is a {task.kind} task with no label words; use --init "
                           "vocab or --init uniform")
        if self.lr is None or self.lr <= 0:
            raise PttError(f"--lr {self.lr}: must be > 0")
        if self.warmup_steps < 0:
            raise PttError(f"--warmup-steps {self.warmup_steps}: must be >= 0")
        if self.eval_every > self.max_steps:
            raise PttError(f"--eval-every {self.eval_every}: larger than --max-steps {self.max_steps}; lower it")
        if self.library and not self.init_from:
            raise PttError(f"--library {self.library}: used only with --init-from auto or avg[:K]; add one of them or "
                           "drop --library")
        if library_start(self.init_from) and not self.library:
            raise PttError(f"--init-from {self.init_from}: needs --library DIR (a folder of prompt artifacts to choose "
                           "from)")
        choice("rank_by", self.rank_by, RANK_CRITERIA)
        if self.mixture and self.init_from:
            raise PttError(f"--mixture and --init-from {self.init_from}: pick one (a mixture's new prompt starts from "
                           "--init)")
        if self.resume and self.overwrite:
            raise PttError("--resume and --overwrite: pick one (continue the run, or start it again)")

    def run_dir(self) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        backbone = Path(self.backbone.rstrip("/")).name
        return Path("runs") / f"{self.task}-{backbone}-{time.strftime('%Y%m%d-%H%M%S')}"

    def batch_plan(self, world_size: int) -> tuple[int, int]:
        """(micro batch per rank, gradient accumulation steps) for this world size.

        global batch = micro x accumulation x world; each must divide evenly.
        """
        if self.batch_size % world_size:
            raise PttError(
                f"--batch-size {self.batch_size}: not divisible by the {world_size} ranks; use a multiple of {world_size}"
            )
        per_rank = self.batch_size // world_size
        micro = self.micro_batch_size or per_rank
        if per_rank % micro:
            raise PttError(
                f"--micro-batch-size {micro}: does not divide the per-rank batch {per_rank} "
                f"(--batch-size {self.batch_size} / {world_size} ranks); pick a divisor of {per_rank}"
            )
        return micro, per_rank // micro

    def ds_batch(self, world_size: int) -> dict[str, Any]:
        """The values a ds_config's "auto" batch and clipping fields are filled with."""
        micro, accum = self.batch_plan(world_size)
        return {"batch_size": self.batch_size, "micro": micro, "accum": accum, "max_grad_norm": self.max_grad_norm}

    def train_config(self, **changes) -> "TrainConfig":
        """A plain TrainConfig of this config's training fields (a job config that trains, e.g. one compare arm),
        with `changes`."""
        names = {f.name for f in dataclasses.fields(TrainConfig)}
        return TrainConfig(**{**{k: v for k, v in dataclasses.asdict(self).items() if k in names}, **changes})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        d = {"batch_order": "random", **d}  # run folders from before the field existed read the random stream
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads((Path(run_dir) / "config.json").read_text())["train"])
