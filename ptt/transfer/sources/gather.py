"""Gathering source prompts of one backbone: reading them together under one compatibility check, naming their
rows, and finding a task's own prompt."""

from __future__ import annotations

from typing import Sequence

from ptt.errors import PttError
from ptt.transfer.sources.artifact import Artifact, read_artifact


def gather(paths, flag: str = "--prompts", mixtures: bool = False) -> list[Artifact]:
    """Artifacts of one backbone, hidden size and length (the first one's); anything else is refused by the one
    check, `Artifact.mismatch`."""
    if not paths:
        raise PttError(f"{flag}: give at least one prompt artifact")
    found = [read_artifact(p, flag, mixtures) for p in paths]
    first = found[0]
    for a in found[1:]:
        reason = a.mismatch(first.backbone, first.length, first.hidden)
        if reason is None:
            continue
        if reason.field == "length":
            raise PttError(f"{flag} {a.path}: length {a.length} differs from {first.path} ({first.length}); score "
                           "prompts of one length together")
        raise PttError(f"{flag} {a.path}: trained on {a.meta.get('backbone')} (hidden {a.hidden}) but {first.path} on "
                       f"{first.meta.get('backbone')} (hidden {first.hidden}); map it to one backbone with a projector "
                       "(`ptt transfer project apply`) first")
    return found


def row_labels(sources: Sequence[Artifact]) -> list[str]:
    """A row per source prompt, named by its `label` (numbered where one repeats: `task#1`, `task#2`)."""
    labels = [s.label for s in sources]
    return [t if labels.count(t) == 1 else f"{t}#{labels[:i + 1].count(t)}" for i, t in enumerate(labels)]


def own_prompt_index(task: str, labels: Sequence[str]) -> int | None:
    """Index of target `task`'s own prompt among `row_labels` names: the label equal to the task, else the first
    numbered one (`task#1`). None when no prompt of that task is present."""
    if task in labels:
        return list(labels).index(task)
    return next((i for i, p in enumerate(labels) if p.split("#")[0] == task), None)
