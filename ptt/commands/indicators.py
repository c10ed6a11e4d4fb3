"""`ptt indicators`: every indicator's prompt-by-prompt matrix over prompts of one backbone, and, given a transfer
matrix, each indicator's correlation with transfer results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ptt.config import IndicatorsConfig
from ptt.errors import PttError
from ptt.runtime import dist
from ptt.runtime.artifacts import artifact_paths, atomic_write_bytes, atomic_write_csv, atomic_write_json
from ptt.scoring import config_for_artifact, open_scorer
from ptt.transfer.indicators.matrices import indicator_matrices
from ptt.transfer.plots import heatmap
from ptt.transfer.sources.gather import gather, row_labels
from ptt.transfer.indicators.correlation import correlate


def run(cfg: IndicatorsConfig) -> dict[str, Any]:
    """Indicator matrices over cfg.prompts, written as json/csv/png; with a transfer matrix from `ptt transfer
    eval`, the Spearman and Kendall correlations too."""
    sources = gather(artifact_paths(cfg.prompts, "--prompts"))
    labels = row_labels(sources)
    transfer = load_transfer_matrix(cfg.transfer_matrix, labels) if cfg.transfer_matrix else None
    scorer = open_scorer(config_for_artifact(sources[0].meta, cfg), sources[0].length)
    try:
        matrices = indicator_matrices(scorer, [s.tensor for s in sources])
    finally:
        scorer.close()
    result = {"prompts": labels, "paths": [s.path for s in sources], "matrices": matrices}
    if transfer is not None:
        result["correlation"] = correlations(matrices, transfer, labels)
    if dist.is_main():
        write_outputs(result, Path(cfg.output_dir))
    return result


def load_transfer_matrix(path: str, labels: list[str]) -> dict[str, Any]:
    """A matrix.json whose source rows are exactly these prompts (by task label)."""
    try:
        matrix = json.loads(Path(path).read_text())
        rows, tasks, values = matrix["rows"], matrix["tasks"], matrix["values"]
        relative = matrix.get("relative") or [[None] * len(tasks) for _ in rows]
    except (OSError, ValueError, KeyError) as e:
        raise PttError(f"--transfer-matrix {path}: not a matrix.json written by `ptt transfer eval` ({e})")
    source_rows = [r for r in rows if r != "random"]
    if sorted(source_rows) != sorted(labels):
        raise PttError(f"--transfer-matrix {path}: its source rows {source_rows} do not match the prompts {labels}; "
                       "pass the same prompts that made the matrix")
    # the paper correlates relative transfer (metric / the target's own prompt's metric) where it is defined
    paired = [[rel if rel is not None else raw for raw, rel in zip(vrow, rrow)] for vrow, rrow in zip(values, relative)]
    return {"rows": rows, "tasks": tasks, "values": paired}


def correlations(matrices: dict[str, list[list[float]]], transfer: dict[str, Any], labels: list[str]) -> dict:
    keep = [i for i, r in enumerate(transfer["rows"]) if r in labels]  # the source rows, not "random"
    rows = [transfer["rows"][i] for i in keep]
    values = [transfer["values"][i] for i in keep]
    order = [labels.index(r) for r in rows]
    return {name: correlate([matrix[a] for a in order], values, rows, transfer["tasks"], labels)
            for name, matrix in matrices.items()}


def write_outputs(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "indicators.json", result)
    labels = result["prompts"]
    for name, matrix in result["matrices"].items():
        atomic_write_json(out / f"{name}.json", {"prompts": labels, "values": matrix})
        cells = [[label] + [f"{v:.4f}" for v in row] for label, row in zip(labels, matrix)]
        atomic_write_csv(out / f"{name}.csv", [["prompt"] + labels] + cells)
        heatmap([(name, matrix)], labels, labels, out / f"{name}.png", xlabel="prompt", ylabel="prompt")
    if "correlation" in result:
        atomic_write_json(out / "correlation.json", result["correlation"])
        atomic_write_bytes(out / "correlation.md", render_correlation(result["correlation"]).encode())


def render_correlation(corr: dict[str, Any]) -> str:
    lines = ["| indicator | Spearman (pooled) | Kendall (pooled) |", "|---|---|---|"]
    for name, c in corr.items():
        pooled = c["pooled"]
        lines.append(f"| {name} | {_fmt(pooled.get('spearman'))} | {_fmt(pooled.get('kendall'))} |")
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"
