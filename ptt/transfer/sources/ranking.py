"""Source selection: rank a prompt library for a target task before paying for any run, and the averaged start.

Each same-backbone, same-length candidate is scored zero-shot on a fixed sample of the target task's *training*
set (never its eval set) with the target's own label words. Classification targets are ranked by a criterion a
label prior cannot win (default: balanced accuracy; a prompt that answers one label to everything scores
exactly 1/C on it, whatever the label distribution), and every criterion is recorded beside it (accuracy,
macro-F1, the mean log-probability of the gold label, the share of the commonest answer). Generation targets are
ranked by their primary metric (no label prior). Ties are broken by path. Prompts of the target task itself are
left out: the point is to pick a source to transfer from.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import torch

from ptt.core.metrics import argmax_rows, classification_report, gold_log_prob, majority_record
from ptt.core.tasks import get_task
from ptt.errors import PttError
from ptt.families.loading import local_path
from ptt.scoring import open_scorer
from ptt.transfer.sources.artifact import read_artifact
from ptt.transfer.sources.library import list_library

DEFAULT_SAMPLE = 256


def candidates(library: str, task: str, backbone: str, length: int | None = None, strict: bool = False,
               flag: str = "--library") -> tuple[list[dict], list[dict]]:
    """(usable candidates, skipped ones with the reason) from the library folder, for `task` on `backbone`.

    length: the prompt length a candidate must have (None: the first candidate's). strict: a prompt of another
    backbone or length is an error instead of a skip (for starts that combine several prompts).
    """
    target_id, usable, skipped = local_path(backbone) or backbone, [], []
    for row in list_library(library):
        artifact = read_artifact(row["path"], flag=flag, mixtures=False)
        # absolute: a mixture or an averaged start names its sources wherever it is used from
        entry = {"path": str(Path(row["path"]).resolve()), "task": artifact.task, "tensor": artifact.tensor,
                 "sha256": artifact.meta.get("sha256")}
        want = length if length is not None else (usable[0]["tensor"].shape[0] if usable else artifact.length)
        mismatch = artifact.mismatch(target_id, want)
        if mismatch and strict:
            by_length = mismatch.field == "length"
            what = f"length {artifact.length}" if by_length else f"backbone {artifact.meta.get('backbone')}"
            fix = f"pass --prompt-length {artifact.length} or " if by_length else ""
            raise PttError(f"{flag} {library}: {row['path']} is a prompt of {what}, but a combined start needs prompts "
                           f"of {target_id} with length {want}; {fix}move it out of the library")
        meta, reason = artifact.meta, None if mismatch is None else str(mismatch)
        if not reason and meta.get("task") == task:
            reason = "same task as the target"
        elif not reason and not meta.get("task"):
            reason = "no task (a start made from other prompts, not a trained source)"
        elif not reason and any(u["sha256"] == entry["sha256"] for u in usable):
            reason = "the same prompt as another source (equal sha256)"
        (skipped if reason else usable).append({**entry, "reason": reason} if reason else entry)
    if not usable:
        raise PttError(f"{flag} {library}: no usable source prompt for --task {task} on {target_id} "
                       f"({len(skipped)} skipped: {', '.join(sorted({s['reason'] for s in skipped})) or 'none found'})")
    return usable, skipped


def log_softmax(scores: list[float]) -> list[float]:
    top = max(scores)
    norm = top + math.log(sum(math.exp(s - top) for s in scores))
    return [s - norm for s in scores]


def candidate_metrics(scorer, task, tensors: list, rows: list[dict]) -> list[dict[str, float]]:
    """Every ranking criterion of each prompt on `rows`, the prompts scored together: the task's metrics, macro-F1,
    balanced accuracy, the share of the commonest answer and the mean log-probability of the gold label
    (classification); generation: its metrics."""
    stack = torch.stack(tensors)
    if task.kind == "generation":
        return scorer.evaluate_many(task, stack, rows=rows)
    gold = [r["label"] for r in rows]
    return [{**classification_report(task.metrics, argmax_rows(scores), gold),
             "gold_log_prob": gold_log_prob([log_softmax(s) for s in scores], gold)}
            for scores in scorer.classify_many(rows, scorer.labels(task), stack)]


def rank_library(library: str, cfg, sample: int = DEFAULT_SAMPLE, length: int | None = None,
                 strict: bool = False) -> dict[str, Any]:
    """Ranking of the library's prompts for cfg.task on cfg.backbone (every rank calls this).

    cfg: any ScoreConfig with a task and a rank_by (TrainConfig for --init-from auto/avg, RankConfig for `ptt
    transfer rank`). length: required prompt length (default: the first candidate's).
    """
    task = get_task(cfg.task)
    usable, skipped = candidates(library, cfg.task, cfg.backbone, length, strict)
    length = usable[0]["tensor"].shape[0]
    key = cfg.rank_by if task.kind == "classification" else task.primary
    scorer = open_scorer(cfg, length)
    try:
        train = scorer.rows(task, "train")
        rows = random.Random(cfg.seed).sample(train, min(sample, len(train)))
        scored = [{"path": c["path"], "task": c["task"], "sha256": c["sha256"], key: metrics[key],
                   "metrics": metrics}
                  for c, metrics in zip(usable, candidate_metrics(scorer, task, [c["tensor"] for c in usable], rows))]
    finally:
        scorer.close()
    scored.sort(key=lambda s: (-s[key], s["path"]))
    result = {"task": cfg.task, "backbone": cfg.backbone, "rank_by": key,
              "criterion": f"zero-shot {key} on {len(rows)} training examples of {cfg.task} (seed {cfg.seed})",
              "ranking": scored, "choice": scored[0]["path"],
              "skipped": [{"path": s["path"], "task": s["task"], "reason": s["reason"]} for s in skipped]}
    if task.kind == "classification":
        result["sample_majority_class"] = majority_record([r["label"] for r in rows], task.label_names)
    return result


def render_ranking(result: dict[str, Any]) -> str:
    key = result["rank_by"]
    lines = [f"ranking for {result['task']} ({result['criterion']})"]
    extra = [m for m in ("accuracy", "top_prediction_share") if m != key and m in result["ranking"][0]["metrics"]]
    for i, r in enumerate(result["ranking"], 1):
        others = "  ".join(f"{m}={r['metrics'][m]:.3f}" for m in extra)
        lines.append(f"{i:>3}. {r[key]:.4f}  {str(r['task']):<12} {r['path']}  {others}".rstrip())
    if "sample_majority_class" in result:
        m = result["sample_majority_class"]
        lines.append(f"  majority class of the sample: {m['label']} ({m['accuracy']:.3f}; a prompt that only learned "
                     "the prior reaches this accuracy)")
    for s in result["skipped"]:
        lines.append(f"  skipped  {str(s['task']):<12} {s['path']} ({s['reason']})")
    return "\n".join(lines)
