"""Convergence arithmetic for transfer comparisons: pure functions over (step, metric) curves.

A curve is a list of (step, metric) pairs in increasing step order; step 0 is the untrained prompt.
"Never reached" is None, never a number.
"""

from __future__ import annotations

import math
from typing import Sequence

Curve = Sequence[tuple[int, float]]


def improvement_target(curve: Curve, fraction: float = 0.9) -> float:
    """The level at which `curve` has made `fraction` of its own improvement: m0 + fraction x (best - m0)."""
    start, best = curve[0][1], max(m for _, m in curve)
    return start + fraction * (best - start)


def steps_to_target(curve: Curve, target: float) -> int | None:
    """First step whose metric is >= target; None if the curve never gets there."""
    for step, metric in curve:
        if metric >= target - 1e-12:
            return step
    return None


def area_under_curve(curve: Curve) -> float:
    """Trapezoidal area under the metric over steps, divided by the step span (a mean metric in [0, 1])."""
    if len(curve) < 2:
        return curve[0][1] if curve else math.nan
    area = sum((s1 - s0) * (m0 + m1) / 2 for (s0, m0), (s1, m1) in zip(curve, curve[1:]))
    return area / (curve[-1][0] - curve[0][0])


def speedup(random_steps: int | None, transfer_steps: int | None) -> float | None:
    """random steps-to-target / transferred steps-to-target.

    None when either arm never reaches the target (then there is no ratio to report); inf when the
    transferred prompt is already there at step 0 and the random one is not.
    """
    if random_steps is None or transfer_steps is None:
        return None
    if transfer_steps == 0:
        return 1.0 if random_steps == 0 else math.inf
    return random_steps / transfer_steps


def json_safe(value):
    """inf/nan -> strings, recursively, so reports stay strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def mean_std(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean and (population) standard deviation of the finite values, and what was left out: `missing`
    (None: never reached) and `infinite` (inf: e.g. a speedup whose transferred arm starts at the target)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    left = {"excluded": len(values) - len(finite), "missing": sum(v is None for v in values),
            "infinite": sum(v is not None and math.isinf(v) for v in values)}
    if not finite:
        return {"mean": None, "std": None, "n": 0, **left}
    mean = sum(finite) / len(finite)
    std = math.sqrt(sum((v - mean) ** 2 for v in finite) / len(finite))
    return {"mean": mean, "std": std, "n": len(finite), **left}
