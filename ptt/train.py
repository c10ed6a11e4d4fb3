"""The training loop: setup, step, evaluate, save. Every rank runs it; only rank 0 writes."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from tqdm import tqdm

from ptt import dist
from ptt.backbones import local_path
from ptt.checkpoint import atomic_write_bytes, atomic_write_json, save_prompt
from ptt.config import TrainConfig
from ptt.encode import collate
from ptt.errors import PttError
from ptt.evaluate import evaluate, forward
from ptt.faults import maybe_fail, poison_loss
from ptt.order import global_batch, rank_micro_batches
from ptt.session import Session, open_session, versions
from ptt.tb import TBWriter

CHECKPOINTS = "checkpoints"
COMPLETE = "ptt_complete.json"
KEEP_CHECKPOINTS = 2


def train(cfg: TrainConfig) -> dict[str, Any]:
    """Run `cfg` to completion; returns the final summary (also written to OUTPUT/summary.json)."""
    run_dir = prepare_run_dir(cfg)
    if cfg.on_nonfinite == "skip" and cfg.batch_plan(dist.world_size())[1] > 1:
        raise PttError("--on-nonfinite skip: needs one micro-batch per rank and step (a skipped step must not leave "
                       "half-accumulated gradients); drop --micro-batch-size or use --on-nonfinite stop")
    selection = None
    if cfg.init_from == "auto":
        from ptt.select import rank_library

        selection = rank_library(cfg.library, cfg)
        cfg = replace(cfg, init_from=selection["choice"])
    session = open_session(cfg)
    try:
        create_run_dir(cfg, run_dir)
        if selection is not None and dist.is_main():
            atomic_write_json(run_dir / "selection.json", selection)
            tqdm.write(f"--init-from auto: {selection['choice']} ({selection['criterion']})")
        state = resume_state(session, run_dir) if cfg.resume else fresh_state()
        write_run_files(session, run_dir, state)
        return loop(session, run_dir, state)
    finally:
        session.close()


def prepare_run_dir(cfg: TrainConfig) -> Path:
    """Check the run folder without writing to it: refuse to mix two runs in one folder, or an unwritable one."""
    run_dir = cfg.run_dir()
    holds_run = (run_dir / "config.json").exists()
    if cfg.resume and not holds_run:
        raise PttError(f"--resume: {run_dir} holds no run to resume; drop --resume or point --output-dir at a run")
    if holds_run and not (cfg.resume or cfg.overwrite):
        raise PttError(f"--output-dir {run_dir}: already holds a run; pass --resume to continue it, "
                       "--overwrite to replace it, or another --output-dir")
    existing = next(p for p in [run_dir, *run_dir.absolute().parents] if p.exists())
    if not os.access(existing, os.W_OK):
        raise PttError(f"--output-dir {run_dir}: {existing} is not writable; choose a writable folder")
    return run_dir


def create_run_dir(cfg: TrainConfig, run_dir: Path) -> None:
    """Rank 0 creates the folder once the run is known to start (--overwrite clears the old run first)."""
    if dist.is_main():
        if cfg.overwrite and run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    dist.barrier()


def fresh_state() -> dict[str, Any]:
    return {"step": 0, "best": None, "best_step": None}


def write_run_files(session: Session, run_dir: Path, state: dict[str, Any]) -> None:
    """config.json (resolved config, derived facts, versions, seed) and ds_config.json; a resumed run
    rewrites them with what it resolved now (e.g. a raised --max-steps)."""
    if not dist.is_main():
        return
    cfg = session.cfg
    micro, accum = cfg.batch_plan(dist.world_size())
    resolved = {
        "train": {**cfg.to_dict(), "output_dir": str(run_dir), "resume": False, "overwrite": False},
        "family": session.family, "precision": session.precision, "optimizer": session.optimizer_name,
        "device": str(session.device.type), "world_size": dist.world_size(), "micro_batch_size": micro,
        "gradient_accumulation_steps": accum, "seed": cfg.seed, "init": session.init_info,
        "task": session.task.name, "metrics": list(session.task.metrics), "label_words": list(
            session.task.label_words[session.family]), "train_examples": len(session.train_rows),
        "eval_examples": len(session.eval_rows), "backbone": session.facts, "versions": versions(),
        "resumed_at_step": state["step"] or None,
    }
    atomic_write_json(run_dir / "config.json", resolved)
    atomic_write_json(run_dir / "ds_config.json", session.ds_config)


def loop(session: Session, run_dir: Path, state: dict[str, Any]) -> dict[str, Any]:
    cfg = session.cfg
    tb = TBWriter(Path(cfg.tb_dir) if cfg.tb_dir else run_dir / "tb", purge_step=state["step"] if cfg.resume else None)
    try:
        if state["step"] == 0:
            record_baseline(session, run_dir, tb)
            record_eval(session, run_dir, tb, state, evaluate(session))
        bar = tqdm(total=cfg.max_steps, initial=state["step"], desc="train", disable=not dist.is_main(),
                   dynamic_ncols=True)
        window = {"t": time.perf_counter(), "samples": 0, "tokens": 0}
        while state["step"] < cfg.max_steps:
            loss, tokens = train_step(session, state["step"])
            state["step"] += 1
            if math.isnan(loss):
                state["skipped"] = state.get("skipped", 0) + 1
                tqdm.write(f"step {state['step']}: non-finite loss, step skipped ({state['skipped']} so far)")
            maybe_fail("step", state["step"])
            window["samples"] += cfg.batch_size
            window["tokens"] += tokens
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
            after_step(session, run_dir, tb, state, loss, window)
        bar.close()
    finally:
        tb.close()
    return finish(session, run_dir, state)


def train_step(session: Session, step: int) -> tuple[float, int]:
    """One optimizer step over the global batch `step` (0-based); returns (mean loss over ranks, tokens seen).

    A non-finite loss is agreed on by all ranks before any backward pass: it stops the run (default) or,
    with --on-nonfinite skip, the whole step is dropped (no backward, no update) and the loss is NaN.
    """
    cfg, engine = session.cfg, session.engine
    micro, accum = cfg.batch_plan(dist.world_size())
    lengths = session.train_lengths() if cfg.batch_order == "grouped" else None
    indices = global_batch(len(session.train_rows), cfg.seed, step, cfg.batch_size, lengths)
    total, tokens = 0.0, 0
    for part in rank_micro_batches(indices, dist.rank(), dist.world_size(), micro):
        maybe_fail("raise", step + 1)
        batch = collate([session.train_rows[i] for i in part], session.tokenizer.pad_token_id)
        scores = forward(session, batch)
        loss = F.cross_entropy(scores, batch["labels"].to(scores.device))
        if poison_loss(step + 1):
            loss = loss * float("nan")
        if not all_ranks_finite(loss):
            if cfg.on_nonfinite == "stop":
                raise PttError(f"step {step + 1}: the loss is not finite; lower --lr or check the data, or pass "
                               "--on-nonfinite skip (the last good prompt stays in OUTPUT/last)")
            return math.nan, 0
        engine.backward(loss)
        engine.step()
        total += loss.detach().float().item()
        tokens += int(batch["attention_mask"].sum()) + len(part) * cfg.prompt_length
    return all_reduce_mean(total / accum), tokens * dist.world_size()


def all_ranks_finite(loss: torch.Tensor) -> bool:
    flag = torch.tensor([float(torch.isfinite(loss.detach()).all())], device=loss.device)
    if dist.world_size() > 1:
        torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MIN)
    return bool(flag.item())


def after_step(session, run_dir, tb, state, loss, window) -> None:
    cfg, step = session.cfg, state["step"]
    if step % cfg.log_every == 0 or step == cfg.max_steps:
        elapsed = time.perf_counter() - window["t"]
        tb.scalars(step, {"train/loss": loss, "train/lr": session.engine.get_lr()[0],
                          "train/skipped_steps": state.get("skipped", 0),
                          "perf/samples_per_s": window["samples"] / elapsed,
                          "perf/tokens_per_s": window["tokens"] / elapsed})
        window.update(t=time.perf_counter(), samples=0, tokens=0)
    if step % cfg.eval_every == 0 or step == cfg.max_steps:
        record_eval(session, run_dir, tb, state, evaluate(session))
    if step % (cfg.save_every or cfg.eval_every) == 0 or step == cfg.max_steps:
        save_resume_state(session, run_dir, state)


def record_baseline(session, run_dir, tb) -> None:
    """The same backbone and scorer with no prompt at all: the floor a prompt must beat."""
    metrics = evaluate(session, use_prompt=False)
    tb.scalars(0, {f"baseline/no_prompt_{k}": v for k, v in metrics.items()})
    if dist.is_main():
        atomic_write_json(run_dir / "baseline.json", {"no_prompt": metrics})
        tqdm.write(f"no-prompt baseline: {json.dumps(metrics)}")


def record_eval(session, run_dir, tb, state, metrics: dict[str, float]) -> None:
    """Log one evaluation; refresh last/ and, when the first metric improved, best/."""
    step, key = state["step"], session.task.metrics[0]
    tb.scalars(step, {f"eval/{k}": v for k, v in metrics.items()})
    prompt = full_prompt(session)  # collective under ZeRO-3: every rank calls it
    improved = state["best"] is None or metrics[key] > state["best"]
    if dist.is_main():
        append_metrics(run_dir / "metrics.jsonl", {"step": step, **metrics})
        tqdm.write(f"step {step}: {json.dumps(metrics)}")
        meta = artifact_meta(session, step, metrics)
        save_prompt(run_dir / "last", prompt, meta, fault_step=step)
        if improved:
            save_prompt(run_dir / "best", prompt, meta)
    if improved:
        state["best"], state["best_step"] = metrics[key], step


def full_prompt(session) -> torch.Tensor:
    """The whole fp32 prompt [L, H] (never a ZeRO shard)."""
    from deepspeed.utils import safe_get_full_fp32_param

    param = session.model.prompt.weight
    full = safe_get_full_fp32_param(param)
    return (full if full is not None else param.detach()).float().cpu().clone()


def artifact_meta(session, step: int, metrics: dict[str, float]) -> dict[str, Any]:
    cfg = session.cfg
    return {"backbone": cfg.backbone, "backbone_path": local_path(cfg.backbone), "family": session.family, "task": session.task.name, "step": step,
            "metrics": metrics, "init": session.init_info, "seed": cfg.seed, "max_length": cfg.max_length,
            "model_type": session.facts["model_type"], "format": "ptt-prompt-v1"}


def append_metrics(path: Path, row: dict[str, Any]) -> None:
    """Append one evaluation; rewrite atomically so a crash never leaves half a line."""
    old = path.read_bytes() if path.exists() else b""
    atomic_write_bytes(path, old + (json.dumps(row) + "\n").encode())


def save_resume_state(session, run_dir: Path, state: dict[str, Any]) -> None:
    """DeepSpeed checkpoint without the frozen weights, then a completion marker (rank 0, after every rank
    wrote its shard); only marked states are ever loaded, and only the newest KEEP_CHECKPOINTS stay."""
    ckpt, tag = run_dir / CHECKPOINTS, f"step{state['step']}"
    client = {"ptt_state": dict(state), "torch_rng": torch.get_rng_state()}
    session.engine.save_checkpoint(str(ckpt), tag=tag, client_state=client, save_latest=False,
                                   exclude_frozen_parameters=True)
    dist.barrier()
    maybe_fail("checkpoint", state["step"])
    if dist.is_main():
        atomic_write_json(ckpt / tag / COMPLETE, {"step": state["step"], "world_size": dist.world_size()})
        for old in complete_tags(ckpt)[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(ckpt / old, ignore_errors=True)
    dist.barrier()


def complete_tags(ckpt: Path) -> list[str]:
    """Resume states that were fully written, oldest first."""
    tags = [p.name for p in ckpt.glob("step*") if (p / COMPLETE).is_file()] if ckpt.is_dir() else []
    return sorted(tags, key=lambda t: int(t[4:]))


def resume_state(session, run_dir: Path) -> dict[str, Any]:
    """Load the newest complete resume state; the step counter, schedule and optimizer continue.
    With none (killed before its first save), the run starts again from step 0."""
    ckpt = run_dir / CHECKPOINTS
    tags = complete_tags(ckpt)
    if not tags:
        if dist.is_main():
            tqdm.write(f"--resume: no complete resume state under {ckpt}; starting from step 0")
        truncate_metrics(run_dir / "metrics.jsonl", -1)
        return fresh_state()
    path, client = session.engine.load_checkpoint(str(ckpt), tag=tags[-1], load_module_strict=False,
                                                  load_optimizer_states=True, load_lr_scheduler_states=True)
    if path is None:
        raise PttError(f"--resume: the resume state {ckpt / tags[-1]} could not be loaded; remove it and resume again")
    torch.set_rng_state(client["torch_rng"])
    state = dict(client["ptt_state"])
    truncate_metrics(run_dir / "metrics.jsonl", state["step"])
    return state


def truncate_metrics(path: Path, step: int) -> None:
    """Drop evaluations logged after the resumed step, so the file reads as one uninterrupted run."""
    if dist.is_main() and path.exists():
        rows = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        atomic_write_bytes(path, "".join(r + "\n" for r in rows).encode())


def finish(session, run_dir: Path, state: dict[str, Any]) -> dict[str, Any]:
    summary = {"run_dir": str(run_dir), "steps": state["step"], "skipped_steps": state.get("skipped", 0),
               "best_step": state["best_step"],
               f"best_{session.task.metrics[0]}": state["best"]}
    baseline = run_dir / "baseline.json"
    if dist.is_main():
        if baseline.exists():
            summary["no_prompt"] = json.loads(baseline.read_text())["no_prompt"]
        atomic_write_json(run_dir / "summary.json", summary)
    return summary


def all_reduce_mean(value: float) -> float:
    if dist.world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=dist.device())
    torch.distributed.all_reduce(t)
    return t.item() / dist.world_size()
