"""`ptt transfer project fit|apply`: fit a projector between two backbones' prompt spaces, and use it.

Objectives (Su et al. 2022, section 5): `distance` regresses projected source prompts onto the target
backbone's prompts for the same tasks; `task` back-propagates the frozen target backbone's task loss into
the projector (the target runs under DeepSpeed through the training recipe, `ptt.recipe.project`).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch

from ptt.config import ProjectFitConfig
from ptt.config.groups import check_files_fit
from ptt.errors import PttError
from ptt.families import detect_family
from ptt.families.loading import hidden_size, load_config, local_path
from ptt.runtime.artifacts import artifact_paths, atomic_write_json, check_output_dir, prompt_meta, save_prompt
from ptt.runtime.lock import RunLock
from ptt.runtime.rundir import check_run_dir, clear_run_dir, versions
from ptt.runtime.tb import TBWriter
from ptt.recipe.project import OWN_FILES, ProjectorRecipe
from ptt.recipe.train import run_recipe
from ptt.transfer.cross_model.projector import (META, Projector, ProjectorShape, fit_distance, load_projector,
                                                save_projector)
from ptt.transfer.sources.artifact import Artifact, read_artifact
from ptt.transfer.sources.gather import gather


def fit(cfg: ProjectFitConfig) -> dict[str, Any]:
    """Fit the projector `cfg` describes; writes projector.safetensors, projector.json, config.json and tb/ (and,
    for the task objective, the training run's ds_config.json and metrics.jsonl)."""
    out = Path(cfg.output_dir)
    check_run_dir(out, False, cfg.overwrite, ProjectorRecipe.kind, ProjectorRecipe.resumable)
    if (out / META).exists() and not cfg.overwrite:  # a projector from before config.json recorded the kind
        raise PttError(f"--output-dir {out}: already holds a projector; pass --overwrite to replace it, or choose "
                       "another --output-dir")
    return fit_by_distance(cfg) if cfg.objective == "distance" else fit_by_task(cfg)


def check_backbone(sources: list[Artifact], backbone: str, flag: str) -> int:
    """Hidden size of `backbone`; every prompt in `sources` must have it (a prompt is a [L, H] tensor)."""
    hidden = hidden_size(load_config(backbone))
    backbone_flag = flag.replace("-prompts", "-backbone")  # projecting first is no fix inside project fit
    for s in sources:
        s.require_fits(backbone, hidden, flag, fix=f"give prompts trained on {backbone}, or name their backbone with "
                                                   f"{backbone_flag}")
    return hidden


def by_task(sources: list[Artifact], flag: str) -> dict[str, torch.Tensor]:
    out: dict[str, Artifact] = {}
    for s in sources:
        if s.task in out:
            raise PttError(f"{flag}: two prompts for task {s.task} ({out[s.task].path} and {s.path}; a run folder "
                           "holds two, best/ and last/); give one prompt per task")
        out[s.task] = s
    return {task: s.tensor.float() for task, s in out.items()}


def source_prompts(paths: Sequence[str], backbone: str, flag: str) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """({task: prompt [L, H]}, each artifact described, by absolute path, for config.json)."""
    sources = gather(artifact_paths(paths, flag), flag)
    check_backbone(sources, backbone, flag)
    return by_task(sources, flag), [{**s.describe(), "path": str(Path(s.path).resolve())} for s in sources]


def paired_tasks(cfg: ProjectFitConfig, src: dict, tgt: dict) -> list[str]:
    """--tasks (each must have a prompt on both sides), or every task with a prompt on both sides, sorted."""
    tasks = cfg.task_list() or sorted(set(src) & set(tgt))
    unpaired = [t for t in tasks if t not in src or t not in tgt]
    if unpaired:
        raise PttError(f"--tasks: no prompt pair for {', '.join(unpaired)} (source tasks {sorted(src)}, target tasks "
                       f"{sorted(tgt)}); give a --source-prompts and a --target-prompts artifact for each, or drop it")
    if not tasks:
        raise PttError(f"--target-prompts: no prompt pairs (source tasks {sorted(src)}, target tasks {sorted(tgt)}); "
                       "the distance objective needs prompts of the same task on both backbones")
    return tasks


def fit_by_distance(cfg: ProjectFitConfig) -> dict[str, Any]:
    """Fit on pairs of prompts trained for the same task on both backbones (plain PyTorch: prompts are small)."""
    src, sources = source_prompts(cfg.source_prompts, cfg.source_backbone, "--source-prompts")
    tgt, targets = source_prompts(cfg.target_prompts, cfg.target_backbone, "--target-prompts") \
        if cfg.target_prompts else ({}, [])
    tasks = paired_tasks(cfg, src, tgt)
    (ls, hs), (lt, ht) = src[tasks[0]].shape, tgt[tasks[0]].shape
    torch.manual_seed(cfg.seed)
    projector = Projector(ProjectorShape(ls, hs, lt, ht, cfg.projector_hidden, cfg.mode))
    with distance_run_dir(cfg, fit_facts(cfg, sources, targets)) as out:
        tb = TBWriter(out / "tb")
        try:
            final = fit_distance(projector, src, tgt, tasks, cfg.distance, cfg.steps, cfg.rate,
                                 log=lambda step, v: tb.scalars(step, {"projector/distance_loss": v}))
        finally:
            tb.close()
        metrics = {"final_distance_loss": final, "pairs": len(tasks)}
        state = {k: v.detach().float() for k, v in projector.state_dict().items()}
        family = detect_family(load_config(cfg.target_backbone)).name
        meta = {"objective": "distance", "distance": cfg.distance, "tasks": tasks, "metrics": metrics,
                "steps": cfg.steps, "lr": cfg.rate, "target_family": family}
        save_projector(out, projector.shape, state, {**meta, **backbones(cfg)})
    return metrics


@contextmanager
def distance_run_dir(cfg: ProjectFitConfig, facts: dict[str, Any]) -> Iterator[Path]:
    """The distance fit's folder, locked while it runs: the previous fit's files removed (--overwrite), then
    config.json (kind, the fit's config and prompts, seed, versions), as the task objective's recipe writes it."""
    out = Path(cfg.output_dir)
    lock = RunLock(out)
    lock.acquire()
    try:
        if cfg.overwrite:
            clear_run_dir(out, OWN_FILES)
        atomic_write_json(out / "config.json", {"kind": ProjectorRecipe.kind, **facts, "seed": cfg.seed,
                                                "versions": versions()})
        yield out
    finally:
        lock.release()


def fit_by_task(cfg: ProjectFitConfig) -> dict[str, Any]:
    """Train the projector through the frozen target backbone's task loss (`ptt.recipe.project`)."""
    src, sources = source_prompts(cfg.source_prompts, cfg.source_backbone, "--source-prompts")
    tasks = cfg.task_list() or list(src)
    missing = [t for t in tasks if t not in src]
    if missing:
        raise PttError(f"--tasks: no source prompt for {', '.join(missing)} (source prompts cover {', '.join(src)}); "
                       "give a --source-prompts artifact per task")
    check_files_fit(cfg, tasks)
    ls, hs = src[tasks[0]].shape
    lt = cfg.target_length or ls
    shape_of = lambda ht: ProjectorShape(ls, hs, lt, ht, cfg.projector_hidden, cfg.mode)  # noqa: E731
    shape_of(hidden_size(load_config(cfg.target_backbone)))  # refuse a bad shape before loading anything
    recipe = ProjectorRecipe(cfg.task_config(task=tasks[0], prompt_length=lt), shape_of, src, tasks, backbones(cfg),
                             fit_facts(cfg, sources))
    return run_recipe(recipe)


def fit_facts(cfg: ProjectFitConfig, sources: list[dict], targets: list[dict] | None = None) -> dict[str, Any]:
    """What config.json records of the fit itself: the fields its objective reads (--lr and --max-steps resolved;
    the prompts as the artifacts read, by absolute path; local backbones absolute) and the prompts described."""
    read, prompts = cfg.read_fields(), {"source_prompts": sources, "target_prompts": targets}
    paths = {name: [p["path"] for p in prompts[name]] for name in prompts if prompts[name] is not None}
    backbones = {name: local_path(read[name]) or read[name] for name in ("source_backbone", "target_backbone")}
    record = {**read, **paths, **backbones, "output_dir": str(Path(cfg.output_dir).resolve()), "overwrite": False}
    return {"project_fit": record, "sources": sources, **({"targets": targets} if targets is not None else {})}


def backbones(cfg: ProjectFitConfig) -> dict[str, Any]:
    return {"source_backbone": cfg.source_backbone, "target_backbone": cfg.target_backbone,
            "target_backbone_path": local_path(cfg.target_backbone)}


def apply(projector_dir: str | Path, prompt_path: str, output_dir: str | Path, overwrite: bool = False
          ) -> dict[str, Any]:
    """Project a source-backbone prompt into the target backbone; writes a regular prompt artifact into a folder of
    its own (an occupied one only with `overwrite`, a run or model folder never)."""
    check_output_dir(output_dir, overwrite)
    projector, pmeta = load_projector(projector_dir)
    source = read_artifact(prompt_path, "--prompt", mixtures=False)
    shape = projector.shape
    tensor, meta = source.tensor, source.meta
    if tuple(tensor.shape) != (shape.source_length, shape.source_hidden):
        raise PttError(f"--prompt {prompt_path}: shape {tuple(tensor.shape)} (backbone {meta.get('backbone')}) but the "
                       f"projector maps [{shape.source_length}, {shape.source_hidden}] prompts of "
                       f"{pmeta['source_backbone']}; use a prompt of that backbone and length")
    with torch.no_grad():
        projected = projector(tensor.float())
    target = pmeta["target_backbone"]
    out_meta = prompt_meta(
        backbone=target, backbone_path=pmeta.get("target_backbone_path"), family=pmeta["target_family"],
        task=meta.get("task"), step=0, metrics={}, max_length=meta.get("max_length", 128),
        model_type=load_config(pmeta.get("target_backbone_path") or target).model_type,
        init={"init": "projected", "source": str(prompt_path), "source_backbone": meta.get("backbone"),
              "source_sha256": meta.get("sha256"), "projector": str(projector_dir),
              "projector_sha256": pmeta["sha256"], "objective": pmeta["objective"]})
    save_prompt(output_dir, projected, out_meta)
    return {"output_dir": str(output_dir), "task": meta.get("task"), "shape": list(projected.shape)}
