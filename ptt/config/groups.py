"""The field groups job configs are composed of: where data comes from, which backbone and how it runs, how prompts
are scored, how a prompt starts, how it is optimized, and where a run lives.

Each group documents its fields (the docstring under a field is its documentation and its CLI help) and checks only
its own fields. A job config lists the groups it needs as its bases (`ptt.config.train`, `ptt.config.jobs`), so a
command offers exactly the flags of its groups and its own; field names are unique across groups, so a composed
config stays flat (`cfg.lr`, `--lr`, one `config.json` key each).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ptt.config.arms import DEFAULT_K
from ptt.config.fields import Args, choice, flag, positive
from ptt.core.tasks import get_task
from ptt.errors import PttError

PRECISIONS = ("auto", "fp32", "bf16")
RANK_CRITERIA = ("balanced_accuracy", "gold_log_prob", "macro_f1", "accuracy")  # see ptt.transfer.sources.ranking
INITS = ("uniform", "vocab", "labels")
BATCH_ORDERS = ("grouped", "random")  # see ptt.core.order
DATA_SOURCES = ("local", "hub")


@dataclass(frozen=True)
class DataArgs(Args):
    """Where a task's examples come from."""

    data_dir: str | None = None
    """Folder laid out like ptt/assets/data (e.g. a full copy of the data); default: the slices shipped with ptt."""
    data_source: str = "local"
    """local (files) or hub (datasets.load_dataset of the task's hub dataset)."""
    text_field: str | None = None
    """Text column(s) of --train-file/--eval-file, comma-separated (two for pair tasks)."""
    label_field: str = "label"
    """Label column of --train-file/--eval-file."""

    def check(self):
        choice("data_source", self.data_source, DATA_SOURCES)


@dataclass(frozen=True)
class TrainDataArgs(Args):
    """Which training examples a job reads (to train on, rank on, or average over)."""

    train_file: str | None = None
    """Local csv/tsv/json/jsonl training file (labels: the task's label names or indices)."""
    max_train_examples: int | None = None
    """Use at most this many training examples."""

    def check(self):
        positive(self, "max_train_examples")


def check_files_fit(cfg, tasks: list[str]) -> None:
    """--train-file/--eval-file hold one task's examples: a job over several tasks would read that file for each."""
    for name in ("train_file", "eval_file"):
        path = getattr(cfg, name, None)
        if path and len(tasks) > 1:
            raise PttError(f"{flag(name)} {path}: one file, but {len(tasks)} tasks ({', '.join(tasks)}) would all read "
                           f"it; give one task, or drop {flag(name)} and lay the data out for --data-dir")


@dataclass(frozen=True)
class EvalDataArgs(Args):
    """Which evaluation examples a job scores."""

    eval_file: str | None = None
    """Local csv/tsv/json/jsonl evaluation file instead of the task's eval split."""
    max_eval_examples: int | None = None
    """Use at most this many evaluation examples."""

    def check(self):
        positive(self, "max_eval_examples")


@dataclass(frozen=True)
class BackboneArgs(Args):
    """The frozen backbone a job loads."""

    backbone: str = "minilm"
    """HF hub name, local model folder, a .gguf file, or a bundled real model: `minilm` (all-MiniLM-L6-v2) or
    `smollm2` (SmolLM2-135M-Instruct, GGUF)."""
    family: str | None = None
    """seq2seq | masked_lm | causal_lm | encoder (default: detected from the model config)."""

    def check(self):
        if self.family is not None:
            from ptt.families import get_family  # deferred: pulls in torch, needed only when --family is given

            get_family(self.family)


@dataclass(frozen=True)
class EncodeArgs(Args):
    """How an example becomes tokens."""

    max_length: int = 128
    """Text tokens per example (the prompt comes on top)."""

    def check(self):
        positive(self, "max_length")


@dataclass(frozen=True)
class RuntimeArgs(Args):
    """How the frozen backbone runs."""

    precision: str = "auto"
    """auto | fp32 | bf16 (auto: bf16 on CUDA, fp32 on CPU, where bf16 is emulated and slow)."""
    ds_config: str | None = None
    """DeepSpeed config: a JSON path or zero3_bf16 | zero2_bf16 | zero3_offload (default zero3_bf16; zero2_bf16 for
    a single CPU process)."""

    def check(self):
        choice("precision", self.precision, PRECISIONS)


@dataclass(frozen=True)
class ScoringArgs(Args):
    """How prompts are scored."""

    eval_batch_size: int = 64
    """Prompted sequences per evaluation forward pass, per rank (prompts scored together share it)."""

    def check(self):
        positive(self, "eval_batch_size")


@dataclass(frozen=True)
class GenerationArgs(Args):
    """How generation tasks decode at evaluation."""

    max_new_tokens: int | None = None
    """Generation tasks: tokens decoded per example at evaluation (default: the task's own budget)."""

    def check(self):
        positive(self, "max_new_tokens")


@dataclass(frozen=True)
class SeedArgs(Args):
    """The seed of everything random in a job."""

    seed: int = 42
    """Seed for the prompt initialization and the data order."""


@dataclass(frozen=True)
class PromptArgs(Args):
    """The shape and initialization of a new prompt."""

    prompt_length: int = 100
    """Number of soft prompt vectors."""
    init: str = "vocab"
    """Prompt initialization: uniform (U(-0.5, 0.5)) | vocab (embeddings of frequent tokens) | labels (label
    words first)."""

    def check(self):
        positive(self, "prompt_length")
        choice("init", self.init, INITS)


def check_init_fits(init: str, task_name: str) -> None:
    """--init labels needs a task with label words (a check that spans the prompt group and a job's task)."""
    task = get_task(task_name)  # an unknown --task fails here, before any model is loaded
    if init == "labels" and task.kind != "classification":
        raise PttError(f"--init labels: --task {task_name} is a {task.kind} task with no label words; use --init "
                       "vocab or --init uniform")


@dataclass(frozen=True)
class RankByArgs(Args):
    """How library prompts are ranked for a target task."""

    rank_by: str = "balanced_accuracy"
    """How library prompts are ranked for a classification target (zero-shot on a training sample):
    balanced_accuracy | gold_log_prob | macro_f1 | accuracy (accuracy rewards a prompt that only learned the
    commonest label). Generation targets rank by their primary metric."""

    def check(self):
        choice("rank_by", self.rank_by, RANK_CRITERIA)


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
class StartArgs(RankByArgs):
    """Where a trained prompt starts other than a fresh --init: a saved prompt, a library's choice, a mixture."""

    init_from: str | None = None
    """Start from a saved prompt artifact (transferred initialization); `auto`: the library's top-ranked prompt;
    `avg` or `avg:K`: the mean of its top K (default 3). auto and avg need --library."""
    library: str | None = None
    """With --init-from auto/avg: folder of prompt artifacts, ranked for --task (selection.json in the run)."""
    mixture: str | None = None
    """Train an attention mixture (ATTEMPT) instead of a plain prompt: the prompts of this library folder stay
    frozen, a new prompt (--init) and a small attention module over the pooled input learn to mix them per input."""

    def check(self):
        if self.library and not self.init_from:
            raise PttError(f"--library {self.library}: used only with --init-from auto or avg[:K]; add one of them or "
                           "drop --library")
        if library_start(self.init_from) and not self.library:
            raise PttError(f"--init-from {self.init_from}: needs --library DIR (a folder of prompt artifacts to choose "
                           "from)")
        if self.mixture and self.init_from:
            raise PttError(f"--mixture and --init-from {self.init_from}: pick one (a mixture's new prompt starts from "
                           "--init)")


@dataclass(frozen=True)
class OptimArgs(Args):
    """How the prompt (or projector) is optimized: steps, batches, AdamW, schedule, evaluation cadence."""

    max_steps: int = 150
    """Optimizer steps."""
    eval_every: int = 50
    """Evaluate every this many steps (a prompt run saves last/ and best/ then)."""
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
    log_every: int = 10
    """Log loss and throughput every this many steps."""
    on_nonfinite: str = "stop"
    """On a NaN/inf loss: stop (name the step, exit 2) or skip (drop the step, count it in train/skipped_steps)."""

    def check(self):
        # max_steps and lr may be None where a job picks them later (projector fitting: per objective); whether
        # evaluations fit in the steps is checked by the jobs that evaluate (`check_evaluations`)
        positive(self, "max_steps", "eval_every", "batch_size", "log_every", "micro_batch_size")
        choice("on_nonfinite", self.on_nonfinite, ("stop", "skip"))
        choice("batch_order", self.batch_order, BATCH_ORDERS)
        if self.lr is not None and self.lr <= 0:
            raise PttError(f"--lr {self.lr}: must be > 0")
        if self.warmup_steps < 0:
            raise PttError(f"--warmup-steps {self.warmup_steps}: must be >= 0")

    def check_evaluations(self, steps: int) -> None:
        if self.eval_every > steps:
            raise PttError(f"--eval-every {self.eval_every}: larger than --max-steps {steps}; lower it")

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

    def ds_batch(self, world_size: int) -> dict:
        """The values a ds_config's "auto" batch and clipping fields are filled with."""
        micro, accum = self.batch_plan(world_size)
        return {"batch_size": self.batch_size, "micro": micro, "accum": accum, "max_grad_norm": self.max_grad_norm}


@dataclass(frozen=True)
class RunArgs(Args):
    """The run folder of one training run: where it is, whether it continues or starts again, what it keeps."""

    output_dir: str | None = None
    """Run folder (default: ./runs/<task>-<backbone>-<time>)."""
    resume: bool = False
    """Continue the run in --output-dir from its newest resume state (flags not given keep the run's values)."""
    overwrite: bool = False
    """Replace the run in --output-dir."""
    save_every: int | None = None
    """Write resume state every this many steps (default: every evaluation)."""
    tb_dir: str | None = None
    """TensorBoard folder (default: OUTPUT/tb)."""

    def check(self):
        positive(self, "save_every")
        if self.resume and self.overwrite:
            raise PttError("--resume and --overwrite: pick one (continue the run, or start it again)")

    def named_run_dir(self, task: str, backbone: str) -> Path:
        if self.output_dir:
            return Path(self.output_dir)
        return Path("runs") / f"{task}-{Path(backbone.rstrip('/')).name}-{time.strftime('%Y%m%d-%H%M%S')}"
