"""Automatic source selection: rank a prompt library for a target task before paying for any run.

Criterion (cheap, stated): every same-backbone, same-length candidate is scored zero-shot on a fixed
sample of the target task's *training* set (never its eval set) with the target's own label words;
candidates are ranked by the task's primary metric, ties broken by path. Prompts of the target task
itself are left out: the point is to pick a source to transfer from.
"""

from __future__ import annotations

import random
from typing import Any

from ptt.core.tasks import get_task
from ptt.errors import PttError
from ptt.families.loading import local_path
from ptt.runtime.artifacts import backbone_id, load_prompt
from ptt.scoring import open_scorer
from ptt.transfer.library import list_library

DEFAULT_SAMPLE = 256


def candidates(library: str, task: str, target_id: str) -> tuple[list[dict], list[dict]]:
    """(usable candidates, skipped ones with the reason) from the library folder."""
    usable, skipped = [], []
    for row in list_library(library):
        tensor, meta = load_prompt(row["path"], flag="--library")
        reason = None
        if meta.get("task") == task:
            reason = "same task as the target"
        elif backbone_id(meta) != target_id:
            reason = f"other backbone ({meta.get('backbone')})"
        entry = {"path": str(row["path"]), "task": meta.get("task"), "tensor": tensor}
        (skipped if reason else usable).append({**entry, "reason": reason} if reason else entry)
    if not usable:
        raise PttError(f"--library {library}: no usable source prompt for --task {task} on {target_id} "
                       f"({len(skipped)} skipped: {', '.join(sorted({s['reason'] for s in skipped})) or 'none found'})")
    return usable, skipped


def rank_library(library: str, cfg, sample: int = DEFAULT_SAMPLE) -> dict[str, Any]:
    """Ranking of the library's prompts for cfg.task on cfg.backbone (every rank calls this).

    cfg: any ScoreConfig with a task (TrainConfig for --init-from auto, RankConfig for `ptt transfer rank`).
    """
    usable, skipped = candidates(library, cfg.task, local_path(cfg.backbone) or cfg.backbone)
    length = usable[0]["tensor"].shape[0]  # one ranking compares prompts of one length: the first candidate's
    skipped += [{**c, "reason": f"length {c['tensor'].shape[0]} != {length}"} for c in usable
                if c["tensor"].shape[0] != length]
    usable = [c for c in usable if c["tensor"].shape[0] == length]
    task = get_task(cfg.task)
    scorer = open_scorer(cfg, length)
    try:
        train = scorer.rows(task, "train")
        rows = random.Random(cfg.seed).sample(train, min(sample, len(train)))
        key, scored = task.primary, []
        for c in usable:
            metrics = scorer.evaluate(task, c["tensor"], rows=rows)
            scored.append({"path": c["path"], "task": c["task"], key: metrics[key], "metrics": metrics})
    finally:
        scorer.close()
    scored.sort(key=lambda s: (-s[key], s["path"]))
    return {"task": cfg.task, "backbone": cfg.backbone, "criterion": f"zero-shot {key} on {len(rows)} training "
            f"examples of {cfg.task} (seed {cfg.seed})", "ranking": scored,
            "skipped": [{"path": s["path"], "task": s["task"], "reason": s["reason"]} for s in skipped],
            "choice": scored[0]["path"]}


def render_ranking(result: dict[str, Any]) -> str:
    key = next(k for k in result["ranking"][0] if k not in ("path", "task", "metrics"))
    lines = [f"ranking for {result['task']} ({result['criterion']})"]
    for i, r in enumerate(result["ranking"], 1):
        lines.append(f"{i:>3}. {r[key]:.4f}  {r['task']:<12} {r['path']}")
    for s in result["skipped"]:
        lines.append(f"  skipped  {s['task']:<12} {s['path']} ({s['reason']})")
    return "\n".join(lines)

