"""The projector recipe (`ptt transfer project fit --objective task`): a projector from the source backbone's prompt
space into the target backbone's, trained through the training recipe's setup, loop and run folder on the frozen
target's task loss. Step i trains on task i mod T (the tasks whose source prompts it projects); every evaluation
scores every task; the end writes projector.safetensors and projector.json (with the evaluation history).

The run folder holds config.json (kind "projector", the fit's own config and its source prompts, then the target's
training run), ds_config.json, metrics.jsonl (one row per evaluation, a column per task) and tb/; there is no resume
state (a projector run is short and starts again). --overwrite replaces those files (OWN_FILES) and keeps whatever
else the folder holds."""

from __future__ import annotations

from typing import Any, Callable

import torch

from ptt.config import TrainConfig
from ptt.recipe.start import Start
from ptt.recipe.train import TrainRecipe
from ptt.runtime import dist
from ptt.runtime.rundir import METRICS, append_metrics, clear_run_dir
from ptt.transfer.cross_model.projector import META, WEIGHTS, ProjectedPrompt, Projector, ProjectorShape, save_projector

OWN_FILES = (WEIGHTS, META, "config.json", "ds_config.json", METRICS, "tb")
"""What a projector fit (either objective) writes into its folder, and all that --overwrite removes."""


class ProjectorRecipe(TrainRecipe):
    """`cfg`: the target backbone's training run (`ProjectFitConfig.task_config`); shape_of: the projector's shape
    for the target's hidden size; sources: the source prompt [L, H] of every task in `tasks`; meta: what
    projector.json records besides the run (the two backbones); facts: what config.json records besides the
    target's training run (the fit's own config and its source prompts)."""

    kind = "projector"
    resumable = False

    def __init__(self, cfg: TrainConfig, shape_of: Callable[[int], ProjectorShape], sources: dict[str, torch.Tensor],
                 tasks: list[str], meta: dict[str, Any], facts: dict[str, Any]):
        super().__init__(cfg)
        self.shape_of, self.sources, self.tasks, self.meta, self.facts = shape_of, sources, tasks, meta, facts
        self.history: list[dict[str, Any]] = []

    def clear(self) -> None:
        """--overwrite: the previous fit's files go; anything else in the folder stays."""
        clear_run_dir(self.run_dir, OWN_FILES)

    def run_facts(self) -> dict[str, Any]:
        return self.facts

    def start(self, plan) -> Start:
        def make(hidden: int, dtype) -> torch.nn.Module:
            module = ProjectedPrompt(Projector(self.shape_of(hidden)), {t: self.sources[t] for t in self.tasks})
            module.init_info = {"init": "projector", "objective": "task", "tasks": self.tasks}
            return module.to(dtype)

        return Start(plan, None, make)

    def first_evaluation(self, tb) -> None:
        """None: the first evaluation comes after --eval-every steps."""

    def step_once(self):
        task = self.tasks[self.state.step % len(self.tasks)]
        self.trainer.prompt_module.use(task)
        result = self.trainer.step(self.state.step, self.trainer.view(task))
        if result.loss is not None:  # None: a skipped step (--on-nonfinite skip)
            self.tb.scalars(self.state.step + 1, {f"train/loss/{task}": result.loss})
        return result

    def evaluation(self, tb) -> None:
        row: dict[str, Any] = {"step": self.state.step}
        for task in self.tasks:
            self.trainer.prompt_module.use(task)
            row[task] = self.trainer.evaluate(self.trainer.view(task))
            tb.scalars(self.state.step, {f"eval/{task}/{k}": v for k, v in row[task].items()})
        self.history.append(row)
        if dist.is_main():
            append_metrics(self.run_dir / "metrics.jsonl", row)

    def finish(self) -> dict[str, Any]:
        """projector.safetensors and projector.json; returns the last evaluation."""
        trainer, cfg = self.trainer, self.cfg
        # collective under ZeRO-3: every rank calls it
        state = {k.removeprefix("projector."): v for k, v in trainer.trainable_state().items()}
        meta = {"objective": "task", "tasks": self.tasks, "metrics": self.history[-1], "history": self.history,
                "steps": cfg.max_steps, "lr": cfg.lr, "target_family": trainer.scorer.family.name,
                "train": cfg.to_dict(), **self.meta}
        if dist.is_main():
            save_projector(self.run_dir, trainer.prompt_module.projector.shape, state, meta)
        return self.history[-1]
