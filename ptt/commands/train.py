"""`ptt train`: set up the run folder, build the trainer, run the loop, save, clean up.

Every rank runs it; only rank 0 writes. The run folder holds everything the run decided (config.json,
ds_config.json), its measurements (baseline.json, metrics.jsonl, summary.json, tb/), its prompts (best/, last/)
and its resume state (checkpoints/), and is locked while the run is alive.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ptt.config import TrainConfig
from ptt.config.train import library_start
from ptt.core.metrics import majority_record
from ptt.errors import PttError
from ptt.families.loading import local_path
from ptt.runtime import dist
from ptt.runtime.artifacts import atomic_write_json, prompt_meta, save_prompt, tensor_sha256
from ptt.runtime.faults import maybe_fail
from ptt.runtime.lock import RunLock
from ptt.runtime.resume import load_state, newest_step, resume_changes, save_state
from ptt.runtime.rundir import append_metrics, check_run_dir, clear_run_dir, truncate_metrics, versions
from ptt.runtime.tb import TBWriter
from ptt.training import Trainer, build_trainer, plan_trainer, prompt_from_artifact
from ptt.backbone import initial_prompt, made_prompt_meta
from ptt.transfer.sources.mixture import DEFAULT_RANK, MixturePrompt, checked_sources, save_mixture
from ptt.transfer.sources.combine import average_top
from ptt.transfer.sources.ranking import candidates, rank_library


def run(cfg: TrainConfig) -> dict[str, Any]:
    """Run `cfg` to completion; returns the final summary (also written to OUTPUT/summary.json).

    With cfg.resume, cfg is compared with the saved run: a change to the trajectory is refused (see
    `ptt.runtime.resume.resume_changes`); a longer run and other cadences are allowed and recorded.
    """
    run_dir = cfg.run_dir()
    check_run_dir(run_dir, cfg.resume, cfg.overwrite)
    if cfg.init_from and not library_start(cfg.init_from) and Path(cfg.init_from).exists():
        cfg = replace(cfg, init_from=str(Path(cfg.init_from).resolve()))  # the run folder resumes from anywhere
    changes: dict[str, list] = {}
    if cfg.resume:
        cfg, changes = resumed_config(cfg, run_dir)
    if cfg.on_nonfinite == "skip" and cfg.batch_plan(dist.world_size())[1] > 1:
        raise PttError("--on-nonfinite skip: needs one micro-batch per rank and step (a skipped step must not leave "
                       "half-accumulated gradients); drop --micro-batch-size or use --on-nonfinite stop")
    plan = plan_trainer(cfg)  # every input error surfaces here, before any process group or file
    dist.init()
    lock = take_lock(run_dir)
    try:
        cfg, plan, selection = library_start_plan(cfg, plan, run_dir)
        trainer = build_trainer(cfg, mixture_module(cfg, plan, run_dir), plan=plan)
        try:
            if dist.is_main() and cfg.overwrite:
                clear_run_dir(run_dir)
            if selection is not None and dist.is_main():
                atomic_write_json(run_dir / "selection.json", selection)
                if "average" in selection:  # the start itself, so that the folder alone reproduces the run
                    save_prompt(run_dir / AVERAGE_DIR, plan.source[0],
                                made_prompt_meta(cfg.backbone, max_length=cfg.max_length, init=selection["average"]))
                tqdm.write(f"--init-from {selection['start']}: {selection['choice']} ({selection['criterion']})")
            state = resume(trainer, run_dir) if cfg.resume else fresh_state()
            write_run_files(trainer, run_dir, state, changes)
            return loop(trainer, run_dir, state)
        finally:
            trainer.close()
    finally:
        lock.release()


AVERAGE_DIR = "init"


def mixture_module(cfg: TrainConfig, plan, run_dir: Path):
    """With --mixture: the factory of the attention mixture over the library's prompts (same backbone and length,
    the target task's own left out); a resumed run mixes exactly the sources it recorded (checked by hash)."""
    if not cfg.mixture:
        return None
    if cfg.resume and (run_dir / "config.json").is_file():
        entries = json.loads((run_dir / "config.json").read_text())["init"]["sources"]
        tensors = checked_sources(entries, f"--mixture {cfg.mixture}")
    else:
        usable, _ = candidates(cfg.mixture, cfg.task, cfg.backbone, cfg.prompt_length, strict=True, flag="--mixture")
        entries = [{"path": c["path"], "task": c["task"], "sha256": c["sha256"]} for c in usable]
        tensors = [c["tensor"] for c in usable]

    def make(hidden: int, dtype):
        init, info = initial_prompt(plan.frozen, cfg.init, cfg.prompt_length, cfg.seed, plan.task)
        module = MixturePrompt(torch.stack(tensors), init, rank=DEFAULT_RANK).to(dtype)
        module.init_info = {"init": "mixture", "sources": entries, "rank": DEFAULT_RANK, "new_prompt": info}
        return module

    return make


def library_start_plan(cfg: TrainConfig, plan, run_dir: Path):
    """--init-from auto / avg:K: rank the library (every rank), then start from the top prompt or the mean of the
    top K. Returns (cfg with init_from set to a path the run folder can reproduce, plan with its source, selection)."""
    start = library_start(cfg.init_from)
    if start is None:
        return cfg, plan, None
    kind, k = start
    selection = rank_library(cfg.library, cfg, length=cfg.prompt_length, strict=kind == "avg")
    selection["start"] = cfg.init_from
    if kind == "auto":
        cfg = replace(cfg, init_from=selection["choice"])
        source = prompt_from_artifact(cfg.init_from, plan.frozen.hidden, cfg.prompt_length, cfg.backbone)
        return cfg, replace(plan, cfg=cfg, source=source), selection
    tensor, made = average_top(selection, k)
    selection["choice"] = str((run_dir / AVERAGE_DIR).resolve())
    selection["average"] = made
    cfg = replace(cfg, init_from=selection["choice"])
    info = {"init": "from", "source": selection["choice"], "source_task": None, "source_backbone": cfg.backbone,
            "source_sha256": tensor_sha256(tensor.float().contiguous()), "made_from": made}
    return cfg, replace(plan, cfg=cfg, source=(tensor, info)), selection


def resume_config(given: dict[str, Any]) -> TrainConfig:
    """The config of `ptt train --resume`: the saved run's, with the flags the user gave on top."""
    run_dir = Path(given.get("output_dir") or ".")
    check_run_dir(run_dir, True, bool(given.get("overwrite")))
    try:
        saved = TrainConfig.from_run_dir(run_dir).to_dict()
    except (KeyError, TypeError, ValueError) as e:
        raise PttError(f"--resume: {run_dir}/config.json is not a ptt run's config ({e}); point --output-dir at a run")
    return TrainConfig(**{**saved, **given, "output_dir": str(run_dir), "resume": True})


def resumed_config(cfg: TrainConfig, run_dir: Path) -> tuple[TrainConfig, dict]:
    """The config a resumed run continues with, and the allowed changes to record (refused ones raise)."""
    saved = TrainConfig.from_run_dir(run_dir)
    if library_start(cfg.init_from) and cfg.library == saved.library:  # the source was chosen when the run started
        cfg = replace(cfg, init_from=saved.init_from)
    new = {**cfg.to_dict(), "output_dir": saved.output_dir}
    return cfg, resume_changes(saved.to_dict(), new, newest_step(run_dir))


def take_lock(run_dir: Path) -> RunLock:
    """Rank 0 takes the run folder's lock; every rank learns the outcome, so a refused job ends on all ranks."""
    lock, error = RunLock(run_dir), None
    if dist.is_main():
        try:
            lock.acquire()
        except PttError as e:
            error = str(e.message)
    error = dist.all_gather_objects(error)[0]
    if error:
        raise PttError(error)
    return lock


def fresh_state() -> dict[str, Any]:
    return {"step": 0, "best": None, "best_step": None}


def resume(trainer: Trainer, run_dir: Path) -> dict[str, Any]:
    """The newest complete resume state; the step counter, schedule and optimizer continue. With none (killed
    before its first save), the run starts again from step 0."""
    state = load_state(trainer.engine, run_dir) or fresh_state()
    if dist.is_main():
        truncate_metrics(run_dir / "metrics.jsonl", state["step"] if state["step"] else -1)
    return state


def write_run_files(trainer: Trainer, run_dir: Path, state: dict[str, Any], changes: dict[str, list]) -> None:
    """config.json (resolved config, derived facts, versions, seed, resume history) and ds_config.json."""
    if not dist.is_main():
        return
    cfg, frozen, view = trainer.cfg, trainer.scorer.frozen, trainer.view()
    micro, accum = cfg.batch_plan(dist.world_size())
    old = json.loads((run_dir / "config.json").read_text()) if state["step"] else {}
    resumes = old.get("resumes", []) + ([{"at_step": state["step"], "changed": changes}] if state["step"] else [])
    resolved = {
        "train": {**cfg.to_dict(), "output_dir": str(run_dir), "resume": False, "overwrite": False},
        "family": frozen.family.name, "precision": frozen.precision, "optimizer": trainer.optimizer_name,
        "device": str(dist.device().type), "world_size": dist.world_size(), "micro_batch_size": micro,
        "gradient_accumulation_steps": accum, "seed": cfg.seed, "init": trainer.init_info,
        "task": view.task.name, "metrics": list(view.task.metrics),
        "label_words": list(view.task.words_for(frozen.family)) if view.task.kind == "classification" else None,
        "train_examples": len(view.train_rows),
        "eval_examples": len(view.eval_rows), "backbone": frozen.facts(), "versions": versions(),
        "resumed_at_step": state["step"] or None, "resumes": resumes,
    }
    atomic_write_json(run_dir / "config.json", resolved)
    atomic_write_json(run_dir / "ds_config.json", frozen.ds_config)


def loop(trainer: Trainer, run_dir: Path, state: dict[str, Any]) -> dict[str, Any]:
    cfg = trainer.cfg
    tb = TBWriter(Path(cfg.tb_dir) if cfg.tb_dir else run_dir / "tb", purge_step=state["step"] if cfg.resume else None)
    try:
        if state["step"] == 0:
            record_baseline(trainer, run_dir, tb)
            record_eval(trainer, run_dir, tb, state, trainer.evaluate())
        bar = tqdm(total=cfg.max_steps, initial=state["step"], desc="train", disable=not dist.is_main(),
                   dynamic_ncols=True)
        window = {"t": time.perf_counter(), "samples": 0, "tokens": 0}
        while state["step"] < cfg.max_steps:
            loss, tokens = trainer.step(state["step"])
            state["data_order"] = chain_order(state.get("data_order", ""), trainer.last_batch)
            state["step"] += 1
            if math.isnan(loss):
                state["skipped"] = state.get("skipped", 0) + 1
                tqdm.write(f"step {state['step']}: non-finite loss, step skipped ({state['skipped']} so far)")
            maybe_fail("step", state["step"])
            window["samples"] += cfg.batch_size
            window["tokens"] += tokens
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.4f}")
            after_step(trainer, run_dir, tb, state, loss, window)
        bar.close()
    finally:
        tb.close()
    return finish(trainer, run_dir, state)


def chain_order(previous: str, batch: list[int]) -> str:
    """A running sha256 over every step's global batch indices: two runs with equal values saw the same data in
    the same order (kept in the resume state, so a resumed run continues the chain)."""
    return hashlib.sha256(f"{previous}:{batch}".encode()).hexdigest()


def after_step(trainer: Trainer, run_dir, tb, state, loss, window) -> None:
    cfg, step = trainer.cfg, state["step"]
    if step % cfg.log_every == 0 or step == cfg.max_steps:
        elapsed = time.perf_counter() - window["t"]
        tb.scalars(step, {"train/loss": loss, "train/lr": trainer.engine.get_lr()[0],
                          "train/skipped_steps": state.get("skipped", 0),
                          "perf/samples_per_s": window["samples"] / elapsed,
                          "perf/tokens_per_s": window["tokens"] / elapsed})
        window.update(t=time.perf_counter(), samples=0, tokens=0)
    if step % cfg.eval_every == 0 or step == cfg.max_steps:
        record_eval(trainer, run_dir, tb, state, trainer.evaluate())
    if step % (cfg.save_every or cfg.eval_every) == 0 or step == cfg.max_steps:
        save_state(trainer.engine, run_dir, state)


def record_baseline(trainer: Trainer, run_dir, tb) -> None:
    """The same backbone and scorer with no prompt at all: the floor a prompt must beat."""
    metrics, view = trainer.evaluate(use_prompt=False), trainer.view()
    tb.scalars(0, {f"baseline/no_prompt_{k}": v for k, v in metrics.items()})
    floors: dict[str, Any] = {"no_prompt": metrics}
    if view.task.kind == "classification":  # what answering the commonest eval label scores: the prior's level
        floors["majority_class"] = majority_record([r["label"] for r in view.eval_rows], view.task.label_names)
    if dist.is_main():
        atomic_write_json(run_dir / "baseline.json", floors)
        tqdm.write(f"no-prompt baseline: {json.dumps(metrics)}")


def record_eval(trainer: Trainer, run_dir, tb, state, metrics: dict[str, float]) -> None:
    """Log one evaluation; refresh last/ and, when the first metric improved, best/."""
    step, key = state["step"], trainer.view().task.primary
    tb.scalars(step, {f"eval/{k}": v for k, v in metrics.items()})
    mixture = trainer.cfg.mixture is not None
    # collective under ZeRO-3: every rank calls it
    prompt = trainer.trainable_state() if mixture else trainer.full_prompt()
    improved = state["best"] is None or metrics[key] > state["best"]
    if dist.is_main():
        append_metrics(run_dir / "metrics.jsonl", {"step": step, **metrics})
        tqdm.write(f"step {step}: {json.dumps(metrics)}")
        meta = artifact_meta(trainer, step, metrics)
        for folder in ("last", "best") if improved else ("last",):
            if mixture:
                save_mixture(run_dir / folder, prompt, trainer.init_info["sources"], meta)
            else:
                save_prompt(run_dir / folder, prompt, meta, fault_step=step if folder == "last" else None)
    if improved:
        state["best"], state["best_step"] = metrics[key], step


def artifact_meta(trainer: Trainer, step: int, metrics: dict[str, float]) -> dict[str, Any]:
    cfg, frozen = trainer.cfg, trainer.scorer.frozen
    return prompt_meta(backbone=cfg.backbone, backbone_path=local_path(cfg.backbone), family=frozen.family.name,
                       task=cfg.task, step=step, metrics=metrics, init=trainer.init_info, max_length=cfg.max_length,
                       model_type=frozen.config.model_type, seed=cfg.seed)


def finish(trainer: Trainer, run_dir: Path, state: dict[str, Any]) -> dict[str, Any]:
    key = trainer.view().task.primary
    summary = {"run_dir": str(run_dir), "steps": state["step"], "skipped_steps": state.get("skipped", 0),
               "data_order_sha256": state.get("data_order"),
               "best_step": state["best_step"], f"best_{key}": state["best"]}
    baseline = run_dir / "baseline.json"
    if dist.is_main():
        if baseline.exists():
            summary["no_prompt"] = json.loads(baseline.read_text())["no_prompt"]
        atomic_write_json(run_dir / "summary.json", summary)
    return summary
