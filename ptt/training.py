"""Training as a library: a `Trainer` composes the scorer's frozen backbone with a trainable prompt, the
DeepSpeed engine that optimizes it, and the data order. `ptt train`, projector fitting and the benchmark
call it; the run folder, resume and logging belong to the commands.

Every rank calls everything here; only the prompt (or a projector) reaches the optimizer.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

import torch
import torch.nn.functional as F
from torch import nn

from ptt.backbone import Frozen, PromptModel, checkpointing_problem, initial_prompt, load_weights, resolve_backbone
from ptt.config import TrainConfig, library_start
from ptt.core.encode import collate, encode_split
from ptt.core.order import global_batch, rank_micro_batches
from ptt.core.prompt import SoftPrompt
from ptt.core.tasks import TaskSpec, get_task
from ptt.errors import PttError
from ptt.families.base import LabelSpec
from ptt.families.loading import require_hidden
from ptt.runtime import dist, zero
from ptt.runtime.artifacts import load_prompt
from ptt.runtime.deepspeed import initialize
from ptt.runtime.faults import maybe_fail, poison_loss
from ptt.scoring import Scorer


@dataclass(frozen=True)
class TaskView:
    """One task as a run sees it: its spec, labels, tokenized splits, and each training row's length."""

    task: TaskSpec
    labels: LabelSpec | None
    train_rows: list[dict]
    eval_rows: list[dict]
    lengths: tuple[int, ...]


@dataclass(frozen=True)
class StepResult:
    """What one `Trainer.step` did."""

    loss: float | None
    """Mean training loss over ranks; None when the step was skipped (a non-finite loss, --on-nonfinite skip)."""
    tokens: int
    """Tokens the step read on all ranks (prompt + non-pad input, + targets for generation)."""

    @property
    def skipped(self) -> bool:
        return self.loss is None


class Trainer:
    """A scorer, a trainable prompt module and the engine that optimizes it.

    Args:
        cfg: the run's config (fixed for the trainer's life).
        scorer: scores through `engine`, so evaluation sees the prompt being trained.
        engine: the DeepSpeed training engine around the PromptModel.
        optimizer_name: recorded in config.json.
        init_info: where the prompt's initial values came from.

    `timer`, a function of a phase name ("forward", "backward", "optimizer step") returning a context manager,
    wraps each phase of every micro-batch in `step` (default: no timing); the throughput benchmark sets it.
    """

    def __init__(self, cfg: TrainConfig, scorer: Scorer, engine, optimizer_name: str, init_info: dict[str, Any]):
        self.cfg, self.scorer, self.engine = cfg, scorer, engine
        self.optimizer_name, self.init_info = optimizer_name, init_info
        self.last_batch: list[int] = []
        self.timer: Callable[[str], ContextManager] = lambda _phase: contextlib.nullcontext()
        self._views: dict[str, TaskView] = {}

    @property
    def prompt_module(self) -> nn.Module:
        return self.scorer.model.prompt

    def view(self, task: str | None = None) -> TaskView:
        """The configured task (default) or another one (projector fitting cycles over several)."""
        spec = get_task(task or self.cfg.task)
        if spec.name not in self._views:
            train = self.scorer.rows(spec, "train")
            labels = self.scorer.labels(spec) if spec.kind == "classification" else None
            self._views[spec.name] = TaskView(spec, labels, train, self.scorer.rows(spec, "eval"),
                                              tuple(len(r["input_ids"]) + len(r.get("target_ids", ())) for r in train))
        return self._views[spec.name]

    def step(self, step: int, view: TaskView | None = None) -> StepResult:
        """One optimizer step over the global batch `step` (0-based).

        A non-finite loss is agreed on by all ranks before any backward pass: it stops the run (default) or,
        with --on-nonfinite skip, the whole step is dropped (no backward, no update; the result says skipped).
        """
        cfg, view = self.cfg, view or self.view()
        micro, accum = cfg.batch_plan(dist.world_size())
        lengths = view.lengths if cfg.batch_order == "grouped" else None
        indices = global_batch(len(view.train_rows), cfg.seed, step, cfg.batch_size, lengths)
        self.last_batch = [int(i) for i in indices]  # the global batch's row indices (runs record their order)
        total, tokens = 0.0, 0
        for part in rank_micro_batches(indices, dist.rank(), dist.world_size(), micro):
            maybe_fail("raise", step + 1)
            batch = collate([view.train_rows[i] for i in part], self.scorer.tokenizer.pad_token_id)
            with self.timer("forward"):
                if view.task.kind == "generation":
                    loss = self.scorer.lm_loss(batch)
                else:
                    scores = self.scorer.scores(batch, view.labels)
                    loss = F.cross_entropy(scores, batch["labels"].to(scores.device))
            if poison_loss(step + 1):
                loss = loss * float("nan")
            if not all_ranks_finite(loss):
                if cfg.on_nonfinite == "stop":
                    raise PttError(f"step {step + 1}: the loss is not finite; lower --lr or check the data, or pass "
                                   "--on-nonfinite skip (the last good prompt stays in OUTPUT/last)")
                return StepResult(None, 0)
            with self.timer("backward"):
                self.engine.backward(loss)
            with self.timer("optimizer step"):
                self.engine.step()
            total += loss.detach().float().item()
            tokens += int(batch["attention_mask"].sum()) + len(part) * cfg.prompt_length
            tokens += int(batch["target_mask"].sum()) if "target_mask" in batch else 0
        return StepResult(all_reduce_mean(total / accum), tokens * dist.world_size())

    def evaluate(self, view: TaskView | None = None, use_prompt: bool = True) -> dict[str, float]:
        """The task's metrics on its eval split with the prompt being trained (or none)."""
        view = view or self.view()
        return self.scorer.evaluate(view.task, use_prompt=use_prompt, rows=view.eval_rows)

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """{name: whole fp32 value} of the prompt module's trainable parameters (collective under ZeRO)."""
        return zero.full_fp32((n, p) for n, p in self.prompt_module.named_parameters() if p.requires_grad)

    def full_prompt(self) -> torch.Tensor:
        """The whole fp32 prompt [L, H] of a SoftPrompt run (collective under ZeRO-3)."""
        return self.trainable_state()["weight"]

    def close(self) -> None:
        self.engine.destroy()
        zero.release_context()


@dataclass
class TrainPlan:
    """What `plan_trainer` checked and prepared before any process group or weight exists."""

    cfg: TrainConfig
    task: TaskSpec
    frozen: Frozen
    source: tuple[torch.Tensor, dict] | None
    rows: dict[str, list[dict]]


def plan_trainer(cfg: TrainConfig) -> TrainPlan:
    """Everything that can be wrong with the input fails here: backbone, family, positions, ds_config, precision,
    tokenizer, the --init-from artifact and the data. No process group, no weights, nothing written."""
    task = get_task(cfg.task)
    frozen = resolve_backbone(cfg.backbone, cfg.family, prompt_length=cfg.prompt_length, max_length=cfg.max_length,
                              precision=cfg.precision, ds_config=cfg.ds_config,
                              ds_batch=cfg.ds_batch(dist.world_size()))
    if cfg.gradient_checkpointing and (problem := checkpointing_problem(frozen.config, frozen.family)):
        raise PttError(f"--gradient-checkpointing: {problem} (backbone {cfg.backbone}); drop the flag")
    source = prompt_from_artifact(cfg.init_from, frozen.hidden, cfg.prompt_length, cfg.backbone) \
        if cfg.init_from and not library_start(cfg.init_from) else None
    rows = {split: encode_split(cfg, task, frozen.tokenizer, frozen.family, split, cfg.max_length)
            for split in ("train", "eval")}
    return TrainPlan(cfg, task, frozen, source, rows)


def build_trainer(cfg: TrainConfig, prompt_module: Callable[[int, torch.dtype], nn.Module] | None = None,
                  plan: TrainPlan | None = None) -> Trainer:
    """Build the run described by `cfg` (every rank calls this).

    prompt_module: optional factory (hidden size, dtype) -> nn.Module whose forward() returns the prompt
    [L, H] (e.g. a projector applied to a source prompt); its trainable parameters, not a SoftPrompt,
    then go to the optimizer. plan: `plan_trainer(cfg)` when the caller checked the input already (a plan of
    another config is refused rather than silently replanned).
    """
    if plan is not None and plan.cfg != cfg:
        raise ValueError("build_trainer: plan.cfg is not cfg; pass the config the plan was made for")
    plan = plan if plan is not None else plan_trainer(cfg)
    task, frozen = plan.task, plan.frozen
    # the process group, then the frozen backbone (partitioned at load time under ZeRO-3)
    load_weights(frozen, cfg.seed)
    if prompt_module is None:
        init, init_info = plan.source or initial_prompt(frozen, cfg.init, cfg.prompt_length, cfg.seed, task)
        prompt = SoftPrompt(init.to(frozen.dtype))
    else:
        prompt = prompt_module(frozen.hidden, frozen.dtype)
        init_info = getattr(prompt, "init_info", {"init": "prompt_module"})
    model = PromptModel(frozen.module, frozen.family, prompt, cfg.gradient_checkpointing).to(dist.device())
    trainable = [p for p in prompt.parameters() if p.requires_grad]
    engine, opt_name = initialize(model, trainable, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                  warmup_steps=cfg.warmup_steps, ds=frozen.ds_config, device=dist.device())
    scorer = Scorer(frozen, model, engine, cfg, cfg.eval_batch_size)
    for split, split_rows in plan.rows.items():
        scorer.keep_rows(task, split, split_rows)
    return Trainer(cfg, scorer, engine, opt_name, init_info)


def prompt_from_artifact(path: str, hidden: int, length: int, backbone: str) -> tuple[torch.Tensor, dict]:
    """A saved prompt as a starting point, checked against the backbone's hidden size and --prompt-length."""
    tensor, meta = load_prompt(path, flag="--init-from")
    require_hidden(tensor, meta, path, backbone, hidden, "--init-from")
    if tensor.shape[0] != length:
        raise PttError(f"--init-from {path}: prompt length {tensor.shape[0]} but --prompt-length {length}; "
                       f"pass --prompt-length {tensor.shape[0]}")
    info = {"init": "from", "source": str(path), "source_task": meta.get("task"),
            "source_backbone": meta.get("backbone"), "source_sha256": meta.get("sha256")}
    made = meta.get("init") if isinstance(meta.get("init"), dict) else {}
    if made.get("init") in ("average", "recycle"):  # a start made from other prompts keeps their record
        info["made_from"] = made
    return tensor, info


def all_ranks_finite(loss: torch.Tensor) -> bool:
    flag = torch.tensor([float(torch.isfinite(loss.detach()).all())], device=loss.device)
    if dist.world_size() > 1:
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
    return bool(flag.item())


def all_reduce_mean(value: float) -> float:
    if dist.world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=dist.device())
    torch.distributed.all_reduce(t)
    return t.item() / dist.world_size()
