"""Cross-task transfer: the zero-shot transfer matrix, and the random-vs-transferred convergence comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ptt import dist
from ptt.checkpoint import atomic_write_csv, atomic_write_json, load_prompt
from ptt.config import TrainConfig
from ptt.errors import PttError
from ptt.tasks import get_task

RANDOM_ROW = "random"


def load_sources(prompts: Sequence[str], flag: str = "--prompts") -> list[dict[str, Any]]:
    """Artifacts of one backbone, hidden size and length; anything else is refused."""
    if not prompts:
        raise PttError(f"{flag}: give at least one prompt artifact")
    sources = []
    for p in prompts:
        tensor, meta = load_prompt(p, flag=flag)
        sources.append({"path": str(p), "tensor": tensor, "meta": meta})
    first = sources[0]
    for s in sources[1:]:
        if _backbone_id(s["meta"]) != _backbone_id(first["meta"]) or s["tensor"].shape[1] != first["tensor"].shape[1]:
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
    """A row per source prompt, named by its task (numbered where a task repeats)."""
    tasks = [s["meta"].get("task", "?") for s in sources]
    return [t if tasks.count(t) == 1 else f"{t}#{tasks[:i + 1].count(t)}" for i, t in enumerate(tasks)]


def transfer_matrix(prompts: Sequence[str], tasks: Sequence[str], output_dir: str | Path, *,
                    include_random: bool = True, base: TrainConfig | None = None) -> dict[str, Any]:
    """Every prompt, unchanged, scored on every task's eval split; writes matrix.json/.csv/.png."""
    for t in tasks:
        get_task(t)
    if not tasks:
        raise PttError("--tasks: give at least one task")
    sources = load_sources(prompts)
    rows = row_labels(sources) + ([RANDOM_ROW] if include_random else [])
    scores: dict[str, dict[str, dict[str, float]]] = {r: {} for r in rows}
    for task in tasks:
        for row, metrics in score_on_task(sources, task, include_random, base).items():
            scores[rows[row] if isinstance(row, int) else row][task] = metrics
    result = matrix_result(sources, rows, list(tasks), scores)
    if dist.is_main():
        write_matrix(result, Path(output_dir))
    return result


def score_on_task(sources, task: str, include_random: bool, base: TrainConfig | None) -> dict:
    """{row index or RANDOM_ROW: metrics}: one session (backbone + data) per task, prompts swapped in."""
    from ptt.evaluate import evaluate, scoring_config
    from ptt.session import open_session

    meta, tensor = sources[0]["meta"], sources[0]["tensor"]
    session = open_session(scoring_config(meta, tensor.shape[0], task, base), need_train_data=False)
    try:
        out: dict = {}
        if include_random:  # the session's own initial prompt: `--init` with `--seed`, never trained
            out[RANDOM_ROW] = evaluate(session)
        for i, src in enumerate(sources):
            session.load_prompt_for_scoring(src["tensor"])
            out[i] = evaluate(session)
        return out
    finally:
        session.close()


def matrix_result(sources, rows: list[str], tasks: list[str], scores) -> dict[str, Any]:
    """Primary-metric matrix plus the paper's relative view (transfer / the target's own prompt)."""
    primary = {t: get_task(t).metrics[0] for t in tasks}
    values = [[scores[r][t][primary[t]] for t in tasks] for r in rows]
    own = {t: next((i for i, s in enumerate(sources) if s["meta"].get("task") == t), None) for t in tasks}
    relative = [[(values[i][j] / values[own[t]][j]) if own[t] is not None and values[own[t]][j] else None
                 for j, t in enumerate(tasks)] for i in range(len(rows))]
    return {"rows": rows, "tasks": tasks, "metric": primary, "values": values, "relative": relative,
            "own_prompt": {t: (rows[i] if i is not None else None) for t, i in own.items()},
            "all_metrics": scores, "sources": [{"row": r, "path": s["path"], "task": s["meta"].get("task"),
                                                "sha256": s["meta"].get("sha256")} for r, s in zip(rows, sources)],
            "backbone": sources[0]["meta"].get("backbone")}


def write_matrix(result: dict[str, Any], out: Path) -> None:
    from ptt.plots import heatmap

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "matrix.json", result)
    header = ["source"] + result["tasks"] + [f"relative:{t}" for t in result["tasks"]]
    atomic_write_csv(out / "matrix.csv", [header] + [
        [row] + [f"{v:.4f}" for v in vals] + ["" if r is None else f"{r:.4f}" for r in rel]
        for row, vals, rel in zip(result["rows"], result["values"], result["relative"])])
    panels = [("zero-shot transfer (primary metric)", result["values"])]
    if any(v is not None for row in result["relative"] for v in row):
        panels.append(("relative to the target's own prompt", result["relative"]))
    heatmap(panels, result["rows"], result["tasks"], out / "matrix.png")


def _backbone_id(meta: dict[str, Any]) -> str:
    return meta.get("backbone_path") or meta.get("backbone", "?")
