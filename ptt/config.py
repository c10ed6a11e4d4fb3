"""One typed config per run: the single source of truth, validated at construction."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptt.errors import PttError
from ptt.tasks import get_task

PRECISIONS = ("auto", "fp32", "bf16")
INITS = ("uniform", "vocab", "labels")
BATCH_ORDERS = ("grouped", "random")  # see ptt.order


@dataclass(frozen=True)
class TrainConfig:
    """Everything `ptt train` decides. Field names match the CLI flags (`max_steps` <-> `--max-steps`)."""

    backbone: str = "minilm"
    """HF hub name, local folder, or a bundled alias (`minilm`: the packaged all-MiniLM-L6-v2)."""
    family: str | None = None
    """seq2seq, masked_lm or encoder; None = detected from the model config."""
    task: str = "sst2"
    data_dir: str | None = None
    """Folder laid out like the packaged data (e.g. a full copy); None = the slices shipped with ptt."""
    data_source: str = "local"
    """local (files) or hub (`datasets.load_dataset` of the task's hub dataset)."""
    train_file: str | None = None
    eval_file: str | None = None
    text_field: str | None = None
    """Comma-separated column(s) holding the text (one, or two for pair tasks) in --train/--eval-file."""
    label_field: str = "label"
    max_train_examples: int | None = None
    max_eval_examples: int | None = None
    prompt_length: int = 100
    init: str = "vocab"
    init_from: str | None = None
    """A saved prompt artifact to start from (transferred initialization), or `auto` (needs --library)."""
    library: str | None = None
    """Folder of prompt artifacts for --init-from auto."""
    max_length: int = 128
    """Text tokens per example (the prompt comes on top)."""
    max_steps: int = 150
    eval_every: int = 50
    save_every: int | None = None
    """Resume-state interval in steps; None = every evaluation."""
    batch_size: int = 16
    """Global batch: micro batch x gradient accumulation x world size."""
    micro_batch_size: int | None = None
    """Per-rank batch per forward; None = as large as the global batch allows."""
    eval_batch_size: int = 64
    batch_order: str = "grouped"
    """grouped (examples of similar length batched together, see ptt.order) or random."""
    lr: float = 0.1
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    precision: str = "auto"
    """auto = bf16 on CUDA, fp32 on CPU (this CPU class emulates bf16 slowly)."""
    seed: int = 42
    ds_config: str | None = None
    """A ds_config JSON path or a name in ds_configs/; None = zero3_bf16 (zero2_bf16 for one CPU process)."""
    output_dir: str | None = None
    resume: bool = False
    overwrite: bool = False
    log_every: int = 10
    on_nonfinite: str = "stop"
    """stop (exit with the step named) or skip (drop that step, count it in train/skipped_steps)."""
    tb_dir: str | None = None
    """TensorBoard folder; None = OUTPUT/tb."""

    def __post_init__(self):
        _positive(self, "prompt_length", "max_length", "max_steps", "eval_every", "batch_size", "eval_batch_size")
        _positive(self, "log_every", "micro_batch_size", "save_every", "max_train_examples", "max_eval_examples")
        _choice("--init", self.init, INITS)
        _choice("--precision", self.precision, PRECISIONS)
        _choice("--data-source", self.data_source, ("local", "hub"))
        _choice("--on-nonfinite", self.on_nonfinite, ("stop", "skip"))
        _choice("--batch-order", self.batch_order, BATCH_ORDERS)
        get_task(self.task)  # an unknown --task fails here, before any model is loaded
        if self.family is not None:
            _choice("--family", self.family, ("seq2seq", "masked_lm", "encoder"))
        if self.lr <= 0:
            raise PttError(f"--lr {self.lr}: must be > 0")
        if self.eval_every > self.max_steps:
            raise PttError(f"--eval-every {self.eval_every}: larger than --max-steps {self.max_steps}; lower it")
        if self.init_from == "auto" and not self.library:
            raise PttError("--init-from auto: needs --library DIR (a folder of prompt artifacts to choose from)")
        if self.resume and self.overwrite:
            raise PttError("--resume and --overwrite: pick one (continue the run, or start it again)")

    def text_fields(self) -> tuple[str, ...] | None:
        return tuple(f.strip() for f in self.text_field.split(",")) if self.text_field else None

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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        d = {"batch_order": "random", **d}  # run folders from before the field existed read the random stream
        return cls(**{k: v for k, v in d.items() if k in names})

    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> "TrainConfig":
        return cls.from_dict(json.loads((Path(run_dir) / "config.json").read_text())["train"])


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _positive(cfg, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, int) or value <= 0):
            raise PttError(f"{_flag(name)} {value}: must be a positive integer")


def _choice(flag: str, value: str, allowed) -> None:
    if value not in allowed:
        raise PttError(f"{flag} {value}: unknown; choose one of {', '.join(allowed)}")
