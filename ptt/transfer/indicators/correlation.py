"""Rank correlation (pure; no scipy) of an indicator with transfer results."""

from __future__ import annotations

import math
from typing import Sequence

from ptt.transfer.sources.gather import own_prompt_index

def rankdata(x: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the average of the ranks they span (scipy's 'average')."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    ranks = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _check_xy(x: Sequence[float], y: Sequence[float], name: str) -> None:
    if len(x) != len(y):
        raise ValueError(f"{name}: {len(x)} values against {len(y)}")


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson correlation of the average ranks. None when undefined (fewer than 2 values, or
    one side constant)."""
    _check_xy(x, y, "spearman")
    if len(x) < 2:
        return None
    return _pearson(rankdata(x), rankdata(y))


def kendall(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b: (C - D) / sqrt((n0 - n1)(n0 - n2)), n0 = n(n-1)/2 pairs, n1 / n2 = pairs tied in x / y.
    None when undefined (fewer than 2 values, or one side constant)."""
    _check_xy(x, y, "kendall")
    n = len(x)
    if n < 2:
        return None
    concordant = discordant = tied_x = tied_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0:
                tied_x += 1
            if dy == 0:
                tied_y += 1
            if dx and dy:
                if (dx > 0) == (dy > 0):
                    concordant += 1
                else:
                    discordant += 1
    n0 = n * (n - 1) // 2
    denom = math.sqrt((n0 - tied_x) * (n0 - tied_y))
    return None if denom == 0 else (concordant - discordant) / denom


def correlate(indicator_matrix: Sequence[Sequence[float]], transfer_values: Sequence[Sequence[float | None]],
              rows: Sequence[str], cols: Sequence[str], prompts: Sequence[str] | None = None, *,
              include_self: bool = False) -> dict:
    """Rank correlation between an indicator and transfer results.

    Args:
        indicator_matrix: [R][P]; entry (i, j) is the indicator between source prompt rows[i] and prompt
            prompts[j] (a square matrix over the same prompts when `prompts` is None).
        transfer_values: [R][C]; entry (i, j) is source rows[i]'s result on target task cols[j], as in
            matrix.json (`values`, or `relative` as in the paper; None entries are skipped).
        rows: R source-prompt labels (matrix.json `rows` without the random row).
        cols: C target task names (matrix.json `tasks`).
        prompts: P labels of the indicator matrix's columns (default: rows).
        include_self: also pair a target task's own prompt with itself (indicator 1 by construction; left out by
            default so it cannot inflate the correlation).

    Pairing rule: target task t is represented by its own prompt p_t (`own_prompt_index`). Each source row i
    gives one pair (x, y) = (indicator_matrix[i][p_t], transfer_values[i][t]): how similar the source prompt is
    to the prompt trained on the target, against how well the source transfers to the target. Targets without
    their own prompt among `prompts` give no pairs.

    Returns:
        {"per_task": {t: {"own_prompt", "n", "spearman", "kendall"}}, "pooled": {"n", "spearman", "kendall"},
         "pairs": [{"source", "target", "indicator", "transfer"}]}; a correlation is None where undefined
        (fewer than 2 pairs, or constant values). Per task the correlation runs over its sources; pooled runs
        over all pairs of all tasks.
    """
    prompts = list(rows) if prompts is None else list(prompts)
    if len(indicator_matrix) != len(rows) or any(len(r) != len(prompts) for r in indicator_matrix):
        raise ValueError(f"correlate: indicator matrix must be {len(rows)} x {len(prompts)}")
    if len(transfer_values) != len(rows) or any(len(r) != len(cols) for r in transfer_values):
        raise ValueError(f"correlate: transfer values must be {len(rows)} x {len(cols)}")
    per_task, pairs = {}, []
    for j, task in enumerate(cols):
        k = own_prompt_index(task, prompts)
        xs, ys = [], []
        if k is not None:
            for i, source in enumerate(rows):
                y = transfer_values[i][j]
                if y is None or (source == prompts[k] and not include_self):
                    continue
                xs.append(float(indicator_matrix[i][k]))
                ys.append(float(y))
                pairs.append({"source": source, "target": task, "indicator": xs[-1], "transfer": ys[-1]})
        per_task[task] = {"own_prompt": prompts[k] if k is not None else None, "n": len(xs),
                          "spearman": spearman(xs, ys), "kendall": kendall(xs, ys)}
    xs, ys = [p["indicator"] for p in pairs], [p["transfer"] for p in pairs]
    pooled = {"n": len(pairs), "spearman": spearman(xs, ys), "kendall": kendall(xs, ys)}
    return {"per_task": per_task, "pooled": pooled, "pairs": pairs}
