"""Pure statistics for comparing initializations seed by seed.

`paired_difference` is what an arm's report gives against the random arm: the per-seed differences (the arms
share seeds, data order and evaluation points, so differences are paired), their mean with a two-sided 95%
Student-t interval, and how many seeds the arm wins.
"""

from __future__ import annotations

import math
from typing import Sequence


# two-sided 95% Student-t critical values by degrees of freedom (1..30); above 30 the normal 1.96 is used
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
       2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


def t95(df: int) -> float:
    """Two-sided 95% critical value of Student's t with `df` degrees of freedom (df >= 1): the table to 30, then the
    Cornish-Fisher expansion around the normal quantile (within 1e-3 of the exact value from 31 on)."""
    if df < 1:
        raise ValueError(f"t95: {df} degrees of freedom; need at least 1")
    if df <= len(T95):
        return T95[df - 1]
    z = 1.959964
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def paired_difference(arm: Sequence[float], base: Sequence[float]) -> dict:
    """Per-seed differences arm - base, their mean, a 95% interval and the seeds the arm wins.

    Args: arm, base: one value per seed, same seeds in the same order. Returns {"n", "differences", "mean",
    "ci95": [low, high] or None for a single seed, "wins": seeds with arm > base, "ties"}.
    """
    if len(arm) != len(base) or not arm:
        raise ValueError(f"paired_difference: {len(arm)} values against {len(base)}; need the same seeds, at least one")
    diffs = [a - b for a, b in zip(arm, base)]
    n, mean = len(diffs), sum(diffs) / len(diffs)
    ci = None
    if n > 1:
        sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
        half = t95(n - 1) * sd / math.sqrt(n)
        ci = [mean - half, mean + half]
    return {"n": n, "differences": diffs, "mean": mean, "ci95": ci, "wins": sum(d > 0 for d in diffs),
            "ties": sum(d == 0 for d in diffs)}
