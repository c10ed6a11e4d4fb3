"""`ptt transfer project fit|apply`: fit a projector between two backbones' prompt spaces, and use it.

Objectives (Su et al. 2022, section 5): `distance` regresses projected source prompts onto the target
backbone's prompts for the same tasks; `task` back-propagates the frozen target backbone's task loss into
the projector (the target runs under DeepSpeed exactly like `ptt train`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ptt import dist
from ptt.backbones import detect_family, hidden_size, load_config, local_path, require_hidden
from ptt.checkpoint import atomic_write_json, atomic_write_tensors, save_prompt, tensor_sha256
from ptt.config import TrainConfig
from ptt.errors import PttError
from ptt.projector import Projector, ProjectedPrompt, ProjectorShape, distance_loss
from ptt.tb import TBWriter
from ptt.transfer import load_sources

WEIGHTS, META = "projector.safetensors", "projector.json"


def check_backbone(sources: list[dict], backbone: str, flag: str) -> int:
    """Hidden size of `backbone`; every prompt in `sources` must have it."""
    hidden = hidden_size(load_config(backbone))
    for s in sources:
        require_hidden(s["tensor"], s["meta"], s["path"], backbone, hidden, flag)
    return hidden


def by_task(sources: list[dict], flag: str) -> dict[str, torch.Tensor]:
    out = {}
    for s in sources:
        task = s["meta"].get("task")
        if task in out:
            raise PttError(f"{flag}: two prompts for task {task}; give one prompt per task")
        out[task] = s["tensor"].float()
    return out


def fit_distance(source_prompts: Sequence[str], target_prompts: Sequence[str], source_backbone: str,
                 target_backbone: str, output_dir: str | Path, *, hidden: int = 768, mode: str = "token",
                 loss: str = "mse", steps: int = 1000, lr: float = 1e-3, seed: int = 42) -> dict[str, Any]:
    """Fit on pairs of prompts trained for the same task on both backbones (plain PyTorch: prompts are small)."""
    if loss not in ("mse", "cosine"):
        raise PttError(f"--distance {loss}: choose mse or cosine")
    src_sources = load_sources(source_prompts, "--source-prompts")
    check_backbone(src_sources, source_backbone, "--source-prompts")
    src = by_task(src_sources, "--source-prompts")
    tgt_sources = load_sources(target_prompts, "--target-prompts") if target_prompts else []
    tgt = by_task(tgt_sources, "--target-prompts")
    if tgt_sources:
        check_backbone(tgt_sources, target_backbone, "--target-prompts")
    tasks = sorted(set(src) & set(tgt))
    if not tasks:
        raise PttError(f"--target-prompts: no prompt pairs (source tasks {sorted(src)}, target tasks {sorted(tgt)}); "
                       "the distance objective needs prompts of the same task on both backbones")
    (ls, hs), (lt, ht) = src[tasks[0]].shape, tgt[tasks[0]].shape
    torch.manual_seed(seed)
    projector = Projector(ProjectorShape(ls, hs, lt, ht, hidden, mode))
    opt = torch.optim.Adam(projector.parameters(), lr=lr)
    tb = TBWriter(Path(output_dir) / "tb")
    for step in range(1, steps + 1):
        value = sum(distance_loss(projector(src[t]), tgt[t], loss) for t in tasks) / len(tasks)
        opt.zero_grad()
        value.backward()
        opt.step()
        if step % 10 == 0 or step == steps:
            tb.scalars(step, {"projector/distance_loss": value.item()})
    tb.close()
    metrics = {"final_distance_loss": float(value.item()), "pairs": len(tasks)}
    save_projector(output_dir, projector, {"objective": "distance", "distance": loss, "tasks": tasks,
                                           "metrics": metrics, "steps": steps}, source_backbone, target_backbone)
    return metrics


def fit_task(source_prompts: Sequence[str], tasks: Sequence[str] | None, source_backbone: str, base: TrainConfig,
             output_dir: str | Path, *, hidden: int = 768, mode: str = "token", target_length: int | None = None):
    """Train the projector through the frozen target backbone's task loss, cycling over the tasks."""
    from ptt.evaluate import evaluate
    from ptt.session import open_session
    from ptt.train import train_step

    sources = load_sources(source_prompts, "--source-prompts")
    check_backbone(sources, source_backbone, "--source-prompts")
    src = by_task(sources, "--source-prompts")
    tasks = list(tasks or src)
    missing = [t for t in tasks if t not in src]
    if missing:
        raise PttError(f"--tasks: no source prompt for {', '.join(missing)} (source prompts cover {', '.join(src)}); "
                       "give a --source-prompts artifact per task")
    ls, hs = src[tasks[0]].shape
    lt = target_length or ls
    cfg = replace(base, task=tasks[0], prompt_length=lt, init_from=None)
    shape_of = lambda ht: ProjectorShape(ls, hs, lt, ht, hidden, mode)  # noqa: E731
    shape_of(hidden_size(load_config(cfg.backbone)))  # refuse a bad shape before loading anything
    torch.manual_seed(cfg.seed)
    module = {}

    def make(ht: int, dtype: torch.dtype) -> ProjectedPrompt:
        module["prompt"] = ProjectedPrompt(Projector(shape_of(ht)), {t: src[t] for t in tasks}).to(dtype)
        return module["prompt"]

    session = open_session(cfg, prompt_module=make)
    prompt = module["prompt"]

    def use(task: str) -> None:  # the task's data and labels, and its source prompt
        session.use_task(task)
        prompt.use(task)

    tb = TBWriter(Path(output_dir) / "tb")
    history = []
    try:
        for step in range(cfg.max_steps):
            task = tasks[step % len(tasks)]
            use(task)
            loss, _ = train_step(session, step)
            tb.scalars(step + 1, {f"train/loss/{task}": loss})
            if (step + 1) % cfg.eval_every == 0 or step + 1 == cfg.max_steps:
                row = {"step": step + 1}
                for t in tasks:
                    use(t)
                    row[t] = evaluate(session)
                    tb.scalars(step + 1, {f"eval/{t}/{k}": v for k, v in row[t].items()})
                history.append(row)
        state = full_state(prompt.projector)
    finally:
        tb.close()
        session.close()
    meta = {"objective": "task", "tasks": tasks, "metrics": history[-1], "history": history,
            "steps": cfg.max_steps, "target_family": session.family, "train": cfg.to_dict()}
    if dist.is_main():
        save_projector(output_dir, Projector(shape_of(prompt.projector.shape.target_hidden)), meta, source_backbone,
                       cfg.backbone, state=state)
    return history[-1]


def full_state(projector: Projector) -> dict[str, torch.Tensor]:
    """fp32 weights of every projector parameter (gathered from ZeRO partitions; collective)."""
    from deepspeed.utils import safe_get_full_fp32_param

    out = {}
    for name, p in projector.named_parameters():
        full = safe_get_full_fp32_param(p)
        out[name] = (full if full is not None else p.detach()).float().cpu().clone()
    return out


def save_projector(output_dir, projector: Projector, meta: dict, source_backbone: str, target_backbone: str,
                   state: dict[str, torch.Tensor] | None = None) -> None:
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = state or {k: v.detach().float() for k, v in projector.state_dict().items()}
    atomic_write_tensors(out / WEIGHTS, state)
    target_family = meta.pop("target_family", None) or detect_family(load_config(target_backbone))
    digest = state_sha256(state)
    atomic_write_json(out / META, {**meta, "source_backbone": source_backbone, "target_backbone": target_backbone,
                                   "target_backbone_path": local_path(target_backbone), "target_family": target_family,
                                   "shape": projector.shape.to_dict(), "sha256": digest, "format": "ptt-projector-v1"})


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """One hash over every projector tensor, in name order."""
    return tensor_sha256(torch.cat([state[k].flatten() for k in sorted(state)]))


def load_projector(directory: str | Path) -> tuple[Projector, dict]:
    d = Path(directory)
    try:
        meta = json.loads((d / META).read_text())
        state = load_file(str(d / WEIGHTS))
    except (OSError, ValueError, SafetensorError) as e:
        raise PttError(f"--projector {directory}: not a readable projector folder ({e}); run `ptt transfer project fit`")
    if state_sha256(state) != meta.get("sha256"):
        raise PttError(f"--projector {directory}: checksum mismatch; the projector files are corrupt")
    projector = Projector(ProjectorShape(**meta["shape"]))
    projector.load_state_dict(state)
    return projector, meta


def apply(projector_dir: str | Path, prompt_path: str, output_dir: str | Path) -> dict[str, Any]:
    """Project a source-backbone prompt into the target backbone; writes a regular prompt artifact."""
    projector, pmeta = load_projector(projector_dir)
    source = load_sources([prompt_path], "--prompt")[0]
    shape = projector.shape
    tensor, meta = source["tensor"], source["meta"]
    if tuple(tensor.shape) != (shape.source_length, shape.source_hidden):
        raise PttError(f"--prompt {prompt_path}: shape {tuple(tensor.shape)} (backbone {meta.get('backbone')}) but the "
                       f"projector maps [{shape.source_length}, {shape.source_hidden}] prompts of "
                       f"{pmeta['source_backbone']}; use a prompt of that backbone and length")
    with torch.no_grad():
        projected = projector(tensor.float())
    target = pmeta["target_backbone"]
    out_meta = {"backbone": target, "backbone_path": pmeta.get("target_backbone_path"), "family": pmeta["target_family"],
                "task": meta.get("task"), "step": 0, "metrics": {}, "max_length": meta.get("max_length", 128),
                "model_type": load_config(pmeta.get("target_backbone_path") or target).model_type,
                "init": {"init": "projected", "source": str(prompt_path), "source_backbone": meta.get("backbone"),
                         "source_sha256": meta.get("sha256"), "projector": str(projector_dir),
                         "projector_sha256": pmeta["sha256"], "objective": pmeta["objective"]},
                "format": "ptt-prompt-v1"}
    save_prompt(output_dir, projected, out_meta)
    return {"output_dir": str(output_dir), "task": meta.get("task"), "shape": list(projected.shape)}

