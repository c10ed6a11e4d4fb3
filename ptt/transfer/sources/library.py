"""The prompt library: every prompt artifact under a folder, listed and shown.

A ptt prompt artifact is a folder with `prompt.safetensors` + `prompt.json` (see `ptt.runtime.artifacts`).
PEFT interchange lives in `ptt.transfer.peft`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ptt.core.tasks import TASKS, GENERATION_TASKS
from ptt.errors import PttError
from ptt.runtime.artifacts import META_FILE, TENSOR_FILE, find_artifacts, load_prompt

# ---------------------------------------------------------------------------------------------------------
# Library listing
# ---------------------------------------------------------------------------------------------------------

def primary_metric(meta: dict[str, Any]) -> tuple[str | None, float | None]:
    """(name, value) of the artifact's primary metric: its task's first metric, else the first one recorded."""
    metrics = meta.get("metrics") or {}
    task = {**TASKS, **GENERATION_TASKS}.get(meta.get("task"))
    name = task.primary if task is not None and task.primary in metrics else next(iter(metrics), None)
    return name, (metrics.get(name) if name else None)


def list_library(directory: str | Path) -> list[dict[str, Any]]:
    """One row per prompt artifact under `directory`.

    Rows: path, task, backbone, family, length, hidden, steps (the meta's step), metric (name), value,
    sha256 (first 12 hex digits); an artifact whose prompt.json cannot be read gets its path and `error`.
    Reads only the json files (checksums are checked by `show` / `load_prompt`). A missing folder or one
    with no artifact is a PttError naming the folder.
    """
    root = Path(directory)
    if not root.is_dir():
        raise PttError(f"prompt library {directory}: not a folder; pass a folder of prompt artifacts (e.g. runs/)")
    found = find_artifacts(root)
    if not found:
        raise PttError(f"prompt library {directory}: no prompt artifact under it (a folder with {META_FILE} and "
                       f"{TENSOR_FILE}, e.g. a run's best/); train one with `ptt train` first")
    rows = []
    for d in found:
        try:
            meta = json.loads((d / META_FILE).read_text())
            if not isinstance(meta, dict):
                raise ValueError("not a json object")
        except (OSError, ValueError) as e:
            rows.append({"path": str(d), "error": f"unreadable {META_FILE} ({e})"})
            continue
        metric, value = primary_metric(meta)
        rows.append({"path": str(d), "task": meta.get("task"), "backbone": meta.get("backbone"),
                     "family": meta.get("family"), "length": meta.get("length"), "hidden": meta.get("hidden_size"),
                     "steps": meta.get("step"), "metric": metric, "value": value,
                     "sha256": (meta.get("sha256") or "")[:12] or None})
    return rows


def render_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width text table of `list_library` rows."""
    header = ["path", "task", "backbone", "L", "H", "steps", "metric", "sha256"]

    def cells(r: dict[str, Any]) -> list[str]:
        if "error" in r:
            return [r["path"], "?", r["error"], "", "", "", "", ""]
        metric = f"{r['metric']}={r['value']:.4f}" if r.get("metric") and isinstance(r.get("value"), (int, float)) \
            else "-"
        return [r["path"], str(r.get("task") or "?"), str(r.get("backbone") or "?"), _s(r.get("length")),
                _s(r.get("hidden")), _s(r.get("steps")), metric, _s(r.get("sha256"))]

    table = [header] + [cells(r) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in table)


def _s(v) -> str:
    return "-" if v is None else str(v)


def show(path: str | Path) -> dict[str, Any]:
    """One artifact's prompt.json (checksum verified) plus `stats` of its tensor [L, H]: norm (Frobenius), mean,
    std, min, max, token_norm_mean (mean L2 norm of the L vectors)."""
    tensor, meta = load_prompt(path)
    t = tensor.double()
    stats = {"norm": float(t.norm()), "mean": float(t.mean()), "std": float(t.std()) if t.numel() > 1 else 0.0,
             "min": float(t.min()), "max": float(t.max()), "token_norm_mean": float(t.norm(dim=1).mean())}
    return {"path": str(path), **meta, "stats": stats}
