"""Automatic source selection: rank a prompt library for a target task before paying for any run.

Criterion (cheap, stated): every same-backbone, same-length candidate is scored zero-shot on a fixed
sample of the target task's *training* set (never its eval set) with the target's own label words;
candidates are ranked by the task's primary metric, ties broken by path. Prompts of the target task
itself are left out: the point is to pick a source to transfer from.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Any

from ptt.backbones import local_path
from ptt.checkpoint import load_prompt
from ptt.config import TrainConfig
from ptt.errors import PttError

DEFAULT_SAMPLE = 256


def candidates(library: str, task: str, backbone_id: str) -> tuple[list[dict], list[dict]]:
    """(usable candidates, skipped ones with the reason) from the library folder."""
    from ptt.library import list_library

    usable, skipped = [], []
    for row in list_library(library):
        tensor, meta = load_prompt(row["path"], flag="--library")
        ident = meta.get("backbone_path") or meta.get("backbone")
        reason = None
        if meta.get("task") == task:
            reason = "same task as the target"
        elif ident != backbone_id:
            reason = f"other backbone ({meta.get('backbone')})"
        entry = {"path": str(row["path"]), "task": meta.get("task"), "tensor": tensor}
        (skipped if reason else usable).append({**entry, "reason": reason} if reason else entry)
    if not usable:
        raise PttError(f"--library {library}: no usable source prompt for --task {task} on {backbone_id} "
                       f"({len(skipped)} skipped: {', '.join(sorted({s['reason'] for s in skipped})) or 'none found'})")
    return usable, skipped


def rank_library(library: str, base: TrainConfig, sample: int = DEFAULT_SAMPLE) -> dict[str, Any]:
    """Ranking of the library's prompts for base.task on base.backbone (every rank calls this)."""
    from ptt.evaluate import predict
    from ptt.metrics import compute
    from ptt.session import open_session

    backbone_id = local_path(base.backbone) or base.backbone
    usable, skipped = candidates(library, base.task, backbone_id)
    length = usable[0]["tensor"].shape[0]  # one session scores one prompt length: the first candidate's
    skipped += [{**c, "reason": f"length {c['tensor'].shape[0]} != {length}"} for c in usable
                if c["tensor"].shape[0] != length]
    usable = [c for c in usable if c["tensor"].shape[0] == length]
    cfg = replace(base, prompt_length=length, init_from=None, resume=False, overwrite=False)
    session = open_session(cfg)
    try:
        rows = random.Random(base.seed).sample(session.train_rows, min(sample, len(session.train_rows)))
        labels = [r["label"] for r in rows]
        key = session.task.metrics[0]
        scored = []
        for c in usable:
            session.load_prompt_for_scoring(c["tensor"])
            metrics = compute(session.task.metrics, predict(session, rows), labels)
            scored.append({"path": c["path"], "task": c["task"], key: metrics[key], "metrics": metrics})
    finally:
        session.close()
    scored.sort(key=lambda s: (-s[key], s["path"]))
    return {"task": base.task, "backbone": base.backbone, "criterion": f"zero-shot {key} on {len(rows)} training "
            f"examples of {base.task} (seed {base.seed})", "ranking": scored,
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

