"""The training recipe: setup (run folder, start, trainer, run files), train (the loop: log, evaluate, save the
resume state), save (last/ and best/ at every evaluation, summary.json at the end), cleanup (engine, lock).

Every rank runs it; only rank 0 writes. The run folder holds everything the run decided (config.json,
ds_config.json), its measurements (baseline.json, metrics.jsonl, summary.json, tb/), its prompts (best/, last/)
and its resume state (checkpoints/), and is locked while the run is alive.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from tqdm import tqdm

from ptt.backbone import made_prompt_meta
from ptt.config import TrainConfig, library_start
from ptt.core.metrics import majority_record
from ptt.errors import PttError
from ptt.families.loading import local_path
from ptt.recipe.start import AVERAGE_DIR, Start, resolve_start
from ptt.recipe.state import LoopState
from ptt.runtime import dist
from ptt.runtime.artifacts import atomic_write_json, prompt_meta, save_prompt
from ptt.runtime.faults import maybe_fail
from ptt.runtime.lock import RunLock
from ptt.runtime.resume import CHECKPOINTS, load_state, newest_step, resume_changes, save_state
from ptt.runtime.rundir import METRICS, append_metrics, check_run_dir, clear_run_dir, truncate_metrics, versions
from ptt.runtime.tb import TBWriter
from ptt.training import Trainer, build_trainer, plan_trainer
from ptt.transfer.sources.mixture import save_mixture


RUN_FILES = ("config.json", "ds_config.json", "baseline.json", METRICS, "summary.json", "selection.json", "best",
             "last", AVERAGE_DIR, CHECKPOINTS, "tb")
"""What a training run writes into its folder, and all that --overwrite removes."""


def run(cfg: TrainConfig) -> dict[str, Any]:
    """Run `cfg` to completion; returns the final summary (also written to OUTPUT/summary.json).

    With cfg.resume, cfg is compared with the saved run: a change to the trajectory is refused (see
    `ptt.runtime.resume.resume_changes`); a longer run and other cadences are allowed and recorded.
    """
    return run_recipe(TrainRecipe(cfg))


def run_recipe(recipe: "TrainRecipe") -> Any:
    """setup, train, finish (its result returned), and cleanup whatever happened."""
    try:
        recipe.setup()
        recipe.train()
        return recipe.finish()
    finally:
        recipe.cleanup()


class TrainRecipe:
    """One run of `cfg`: `setup`, `train`, `finish`, `cleanup` (always, even after an error).

    A recipe that trains something else through the same loop (a projector: `ptt.recipe.project`) overrides the
    hooks: `start` (what is trained), `first_evaluation`, `step_once` (which batch), `evaluation`, `finish`,
    `clear` (what --overwrite removes) and `run_facts` (what config.json records besides the run); `kind` is
    recorded in config.json, so that no other kind of job resumes or replaces the folder; `resumable` says whether
    the loop writes resume states.
    """

    kind = "train"
    resumable = True

    def __init__(self, cfg: TrainConfig):
        self.cfg = normalized(cfg)
        self.run_dir = self.cfg.run_dir()
        self.trainer: Trainer | None = None
        self.lock: RunLock | None = None
        self.state = LoopState()
        self.tb: TBWriter | None = None

    def setup(self) -> None:
        """Check the inputs (before any process group or file), take the lock, resolve the start, build the
        trainer, load a resume state, write config.json and ds_config.json."""
        check_run_dir(self.run_dir, self.cfg.resume, self.cfg.overwrite, self.kind, self.resumable)
        changes: dict[str, list] = {}
        if self.cfg.resume:
            self.cfg, changes = resumed_config(self.cfg, self.run_dir)
        if self.cfg.on_nonfinite == "skip" and self.cfg.batch_plan(dist.world_size())[1] > 1:
            raise PttError("--on-nonfinite skip: needs one micro-batch per rank and step (a skipped step must not "
                           "leave half-accumulated gradients); drop --micro-batch-size or use --on-nonfinite stop")
        plan = plan_trainer(self.cfg)  # every input error surfaces here, before any process group or file
        dist.init()
        self.lock = take_lock(self.run_dir)
        start = self.start(plan)
        self.cfg = start.cfg
        self.trainer = build_trainer(start.cfg, start.prompt_module, plan=start.plan)
        if dist.is_main() and self.cfg.overwrite:
            self.clear()
        write_selection(start, self.run_dir)
        if self.cfg.resume:
            self.state = resume(self.trainer, self.run_dir)
        write_run_files(self.trainer, self.run_dir, self.state, changes, {"kind": self.kind, **self.run_facts()})

    def clear(self) -> None:
        """--overwrite (rank 0): the old run's files go; anything else in the folder stays."""
        clear_run_dir(self.run_dir, RUN_FILES)

    def run_facts(self) -> dict[str, Any]:
        """What config.json records besides the training run itself."""
        return {}

    def start(self, plan) -> Start:
        """What the run trains, from where (every rank calls it)."""
        return resolve_start(plan, self.run_dir)

    def first_evaluation(self, tb) -> None:
        """Before the first step: the no-prompt floor and the starting prompt's metrics."""
        record_baseline(self.trainer, self.run_dir, tb)
        self.evaluation(tb)

    def step_once(self):
        """One optimizer step (a `ptt.training.StepResult`)."""
        return self.trainer.step(self.state.step)

    def evaluation(self, tb) -> None:
        """One evaluation, logged, and the prompts it saves."""
        self.save(tb, self.trainer.evaluate())

    def train(self) -> None:
        """Steps up to --max-steps: log every --log-every, evaluate (and save prompts) every --eval-every, save the
        resume state every --save-every."""
        trainer, cfg, state = self.trainer, self.cfg, self.state
        tb = self.tb = TBWriter(Path(cfg.tb_dir) if cfg.tb_dir else self.run_dir / "tb",
                                purge_step=state.step if cfg.resume else None)
        try:
            if state.step == 0:
                self.first_evaluation(tb)
            bar = tqdm(total=cfg.max_steps, initial=state.step, desc="train", disable=not dist.is_main(),
                       dynamic_ncols=True)
            window = {"t": time.perf_counter(), "samples": 0, "tokens": 0}
            while state.step < cfg.max_steps:
                result = self.step_once()
                state.advance(trainer.last_batch, result.skipped)
                if result.skipped:
                    tqdm.write(f"step {state.step}: non-finite loss, step skipped ({state.skipped} so far)")
                maybe_fail("step", state.step)
                window["samples"] += cfg.batch_size
                window["tokens"] += result.tokens
                bar.update(1)
                loss = float("nan") if result.loss is None else result.loss  # shown and logged as NaN
                bar.set_postfix(loss=f"{loss:.4f}")
                self.after_step(tb, loss, window)
            bar.close()
        finally:
            tb.close()

    def after_step(self, tb, loss: float, window: dict) -> None:
        trainer, cfg, step = self.trainer, self.cfg, self.state.step
        if step % cfg.log_every == 0 or step == cfg.max_steps:
            elapsed = time.perf_counter() - window["t"]
            tb.scalars(step, {"train/loss": loss, "train/lr": trainer.engine.get_lr()[0],
                              "train/skipped_steps": self.state.skipped,
                              "perf/samples_per_s": window["samples"] / elapsed,
                              "perf/tokens_per_s": window["tokens"] / elapsed})
            window.update(t=time.perf_counter(), samples=0, tokens=0)
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            self.evaluation(tb)
        if self.resumable and (step % (cfg.save_every or cfg.eval_every) == 0 or step == cfg.max_steps):
            save_state(trainer.engine, self.run_dir, self.state.to_dict())

    def save(self, tb, metrics: dict[str, float]) -> None:
        """Log one evaluation; refresh last/ and, when the first metric improved, best/."""
        trainer, state, run_dir = self.trainer, self.state, self.run_dir
        key = trainer.view().task.primary
        tb.scalars(state.step, {f"eval/{k}": v for k, v in metrics.items()})
        mixture = self.cfg.mixture is not None
        # collective under ZeRO-3: every rank calls it
        prompt = trainer.trainable_state() if mixture else trainer.full_prompt()
        improved = state.improves(metrics[key])
        if dist.is_main():
            append_metrics(run_dir / "metrics.jsonl", {"step": state.step, **metrics})
            tqdm.write(f"step {state.step}: {json.dumps(metrics)}")
            meta = artifact_meta(trainer, state.step, metrics)
            for folder in ("last", "best") if improved else ("last",):
                if mixture:
                    save_mixture(run_dir / folder, prompt, trainer.init_info["sources"], meta)
                else:
                    save_prompt(run_dir / folder, prompt, meta, fault_step=state.step if folder == "last" else None)
        if improved:
            state.best, state.best_step = metrics[key], state.step

    def finish(self) -> dict[str, Any]:
        """summary.json: steps, skipped steps, the data-order hash, the best step and metric, the no-prompt floor."""
        key, state = self.trainer.view().task.primary, self.state
        summary = {"run_dir": str(self.run_dir), "steps": state.step, "skipped_steps": state.skipped,
                   "data_order_sha256": state.data_order or None,
                   "best_step": state.best_step, f"best_{key}": state.best}
        baseline = self.run_dir / "baseline.json"
        if dist.is_main():
            if baseline.exists():
                summary["no_prompt"] = json.loads(baseline.read_text())["no_prompt"]
            atomic_write_json(self.run_dir / "summary.json", summary)
        return summary

    def cleanup(self) -> None:
        if self.trainer is not None:
            self.trainer.close()
        if self.lock is not None:
            self.lock.release()


def normalized(cfg: TrainConfig) -> TrainConfig:
    """--init-from PATH and a local --backbone made absolute, so that the run folder resumes from anywhere."""
    if cfg.init_from and not library_start(cfg.init_from) and Path(cfg.init_from).exists():
        cfg = replace(cfg, init_from=str(Path(cfg.init_from).resolve()))
    return replace(cfg, backbone=local_path(cfg.backbone) or cfg.backbone)


def write_selection(start: Start, run_dir: Path) -> None:
    """A library start's selection.json and, for avg:K, the averaged start itself (rank 0)."""
    selection, cfg = start.selection, start.cfg
    if selection is None or not dist.is_main():
        return
    atomic_write_json(run_dir / "selection.json", selection)
    if "average" in selection:  # the start itself, so that the folder alone reproduces the run
        save_prompt(run_dir / AVERAGE_DIR, start.plan.source[0],
                    made_prompt_meta(cfg.backbone, max_length=cfg.max_length, init=selection["average"]))
    tqdm.write(f"--init-from {selection['start']}: {selection['choice']} ({selection['criterion']})")


def resume_config(given: dict[str, Any]) -> TrainConfig:
    """The config of `ptt train --resume`: the saved run's, with the flags the user gave on top."""
    run_dir = Path(given.get("output_dir") or ".")
    check_run_dir(run_dir, True, bool(given.get("overwrite")), TrainRecipe.kind)
    try:
        saved = TrainConfig.from_run_dir(run_dir).to_dict()
    except (KeyError, TypeError, ValueError) as e:
        raise PttError(f"--resume: {run_dir}/config.json is not a ptt run's config ({e}); point --output-dir at a run")
    return TrainConfig(**{**saved, **given, "output_dir": str(run_dir), "resume": True})


def resumed_config(cfg: TrainConfig, run_dir: Path) -> tuple[TrainConfig, dict]:
    """The config a resumed run continues with, and the allowed changes to record (refused ones raise)."""
    saved = normalized(TrainConfig.from_run_dir(run_dir))  # a run recorded before paths were made absolute
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


def resume(trainer: Trainer, run_dir: Path) -> LoopState:
    """The newest complete resume state; the step counter, schedule and optimizer continue. With none (killed
    before its first save), the run starts again from step 0."""
    saved = load_state(trainer.engine, run_dir)
    state = LoopState() if saved is None else LoopState.from_dict(saved)
    if dist.is_main():
        truncate_metrics(run_dir / "metrics.jsonl", state.step if state.step else -1)
    return state


def write_run_files(trainer: Trainer, run_dir: Path, state: LoopState, changes: dict[str, list],
                    facts: dict[str, Any]) -> None:
    """config.json (`facts` first, then the resolved config, derived facts, versions, seed, resume history) and
    ds_config.json."""
    if not dist.is_main():
        return
    cfg, frozen, view = trainer.cfg, trainer.scorer.frozen, trainer.view()
    micro, accum = cfg.batch_plan(dist.world_size())
    old = json.loads((run_dir / "config.json").read_text()) if state.step else {}
    resumes = old.get("resumes", []) + ([{"at_step": state.step, "changed": changes}] if state.step else [])
    resolved = {
        **facts,
        "train": {**cfg.to_dict(), "output_dir": str(run_dir), "resume": False, "overwrite": False},
        "family": frozen.family.name, "precision": frozen.precision, "optimizer": trainer.optimizer_name,
        "device": str(dist.device().type), "world_size": dist.world_size(), "micro_batch_size": micro,
        "gradient_accumulation_steps": accum, "seed": cfg.seed, "init": trainer.init_info,
        "task": view.task.name, "metrics": list(view.task.metrics),
        "label_words": list(view.task.words_for(frozen.family)) if view.task.kind == "classification" else None,
        "train_examples": len(view.train_rows),
        "eval_examples": len(view.eval_rows), "backbone": frozen.facts(), "versions": versions(),
        "resumed_at_step": state.step or None, "resumes": resumes,
    }
    atomic_write_json(run_dir / "config.json", resolved)
    atomic_write_json(run_dir / "ds_config.json", frozen.ds_config)


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


def artifact_meta(trainer: Trainer, step: int, metrics: dict[str, float]) -> dict[str, Any]:
    cfg, frozen = trainer.cfg, trainer.scorer.frozen
    return prompt_meta(backbone=cfg.backbone, backbone_path=local_path(cfg.backbone), family=frozen.family.name,
                       task=cfg.task, step=step, metrics=metrics, init=trainer.init_info, max_length=cfg.max_length,
                       model_type=frozen.config.model_type, seed=cfg.seed)
