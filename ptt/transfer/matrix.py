"""The zero-shot transfer matrix: rows are source prompts, columns target tasks, each cell the target's
primary metric, with the paper's relative view (transfer / the target's own prompt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ptt.core.tasks import get_task
from ptt.runtime.artifacts import atomic_write_csv, atomic_write_json
from ptt.transfer.plots import heatmap
from ptt.transfer.sources.artifact import Artifact
from ptt.transfer.sources.gather import own_prompt_index

RANDOM_ROW = "random"


def matrix_result(sources: list[Artifact], rows: list[str], tasks: list[str], scores,
                  majority: dict[str, dict] | None = None) -> dict[str, Any]:
    """Primary-metric matrix plus the relative view, macro-F1 beside accuracy, and each target's majority class.

    sources: the source artifacts (rows[:len(sources)] are their labels); scores: {row: {task: metrics}};
    majority: {task: {"label", "accuracy"}} for classification targets (the accuracy of always answering the
    commonest eval label: a prompt at that level may have learned nothing but the prior).
    """
    primary = {t: get_task(t).primary for t in tasks}
    values = [[scores[r][t][primary[t]] for t in tasks] for r in rows]
    macro = [[scores[r][t].get("macro_f1") for t in tasks] for r in rows]
    own = {t: own_prompt_index(t, rows[:len(sources)]) for t in tasks}
    relative = [[(values[i][j] / values[own[t]][j]) if own[t] is not None and values[own[t]][j] else None
                 for j, t in enumerate(tasks)] for i in range(len(rows))]
    return {"rows": rows, "tasks": tasks, "metric": primary, "values": values, "relative": relative,
            "macro_f1": macro, "majority_class": majority or {},
            "own_prompt": {t: (rows[i] if i is not None else None) for t, i in own.items()},
            "all_metrics": scores, "sources": [{"row": r, "path": s.path, "task": s.task, "kind": s.kind,
                                                "sha256": s.meta.get("sha256")} for r, s in zip(rows, sources)],
            "backbone": sources[0].meta.get("backbone")}


def write_matrix(result: dict[str, Any], out: Path) -> None:
    """matrix.json, matrix.csv and matrix.png (the relative panel where any cell has one)."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "matrix.json", result)
    tasks = result["tasks"]
    header = ["source"] + tasks + [f"relative:{t}" for t in tasks] + [f"macro_f1:{t}" for t in tasks]
    body = [[row] + [_cell(v) for v in vals] + [_cell(r) for r in rel] + [_cell(m) for m in macro]
            for row, vals, rel, macro in zip(result["rows"], result["values"], result["relative"], result["macro_f1"])]
    majority = result.get("majority_class") or {}
    if majority:  # what answering the commonest label scores: the floor that a label prior alone reaches
        body.append(["majority-class"] + [_cell(majority.get(t, {}).get("accuracy")) for t in tasks]
                    + [""] * (2 * len(tasks)))
    atomic_write_csv(out / "matrix.csv", [header] + body)
    panels = [("zero-shot transfer (primary metric)", result["values"])]
    if any(v is not None for row in result["relative"] for v in row):
        panels.append(("relative to the target's own prompt", result["relative"]))
    heatmap(panels, result["rows"], result["tasks"], out / "matrix.png")


def _cell(v) -> str:
    return "" if v is None else f"{v:.4f}"
