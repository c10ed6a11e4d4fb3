"""Source prompts of one backbone: loading them together, naming their rows, and finding a task's own prompt."""

from __future__ import annotations

from typing import Any, Sequence

from ptt.errors import PttError
from ptt.runtime.artifacts import backbone_id, load_prompt


def load_sources(prompts: Sequence[str], flag: str = "--prompts") -> list[dict[str, Any]]:
    """Artifacts of one backbone, hidden size and length ({path, tensor, meta} each); anything else is refused."""
    if not prompts:
        raise PttError(f"{flag}: give at least one prompt artifact")
    sources = []
    for p in prompts:
        tensor, meta = load_prompt(p, flag=flag)
        sources.append({"path": str(p), "tensor": tensor, "meta": meta})
    first = sources[0]
    for s in sources[1:]:
        if backbone_id(s["meta"]) != backbone_id(first["meta"]) or s["tensor"].shape[1] != first["tensor"].shape[1]:
            raise PttError(
                f"{flag} {s['path']}: trained on {s['meta'].get('backbone')} (hidden {s['tensor'].shape[1]}) but "
                f"{first['path']} on {first['meta'].get('backbone')} (hidden {first['tensor'].shape[1]}); map it to one "
                "backbone with a projector (`ptt transfer project apply`) first"
            )
        if s["tensor"].shape[0] != first["tensor"].shape[0]:
            raise PttError(f"{flag} {s['path']}: length {s['tensor'].shape[0]} differs from {first['path']} "
                           f"({first['tensor'].shape[0]}); score prompts of one length together")
    return sources


def row_labels(sources: list[dict[str, Any]]) -> list[str]:
    """A row per source prompt, named by its task (numbered where a task repeats: `task#1`, `task#2`)."""
    tasks = [s["meta"].get("task", "?") for s in sources]
    return [t if tasks.count(t) == 1 else f"{t}#{tasks[:i + 1].count(t)}" for i, t in enumerate(tasks)]


def own_prompt_index(task: str, labels: Sequence[str]) -> int | None:
    """Index of target `task`'s own prompt among `row_labels` names: the label equal to the task, else the first
    numbered one (`task#1`). None when no prompt of that task is present."""
    if task in labels:
        return list(labels).index(task)
    return next((i for i, p in enumerate(labels) if p.split("#")[0] == task), None)
