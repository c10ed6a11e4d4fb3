"""Pure metric functions: (predictions, labels) -> float. No torch, no I/O."""

from __future__ import annotations

from typing import Callable, Sequence


def accuracy(preds: Sequence[int], labels: Sequence[int]) -> float:
    """Fraction of predictions equal to their label (0.0 for no examples)."""
    _check_lengths(preds, labels)
    if not labels:
        return 0.0
    return sum(int(p == y) for p, y in zip(preds, labels)) / len(labels)


def f1(preds: Sequence[int], labels: Sequence[int], positive: int = 1) -> float:
    """Binary F1 of the `positive` class; 0.0 when there is no true or predicted positive."""
    _check_lengths(preds, labels)
    tp = sum(int(p == positive and y == positive) for p, y in zip(preds, labels))
    fp = sum(int(p == positive and y != positive) for p, y in zip(preds, labels))
    fn = sum(int(p != positive and y == positive) for p, y in zip(preds, labels))
    if tp == 0:
        return 0.0
    return 2 * tp / (2 * tp + fp + fn)


METRICS: dict[str, Callable[[Sequence[int], Sequence[int]], float]] = {
    "accuracy": accuracy,
    "f1": f1,
}


def compute(names: Sequence[str], preds: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    """All metrics in `names`, by name."""
    return {name: METRICS[name](preds, labels) for name in names}


def _check_lengths(preds: Sequence[int], labels: Sequence[int]) -> None:
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions for {len(labels)} labels")
