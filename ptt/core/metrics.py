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


def _classes(preds: Sequence[int], labels: Sequence[int]) -> list[int]:
    return sorted(set(labels) | set(preds))


def macro_f1(preds: Sequence[int], labels: Sequence[int]) -> float:
    """Unweighted mean over the classes present (in labels or predictions) of each class's F1."""
    _check_lengths(preds, labels)
    classes = _classes(preds, labels)
    return sum(f1(preds, labels, positive=c) for c in classes) / len(classes) if classes else 0.0


def balanced_accuracy(preds: Sequence[int], labels: Sequence[int]) -> float:
    """Mean over the gold classes of each class's recall. A constant answer scores exactly 1 / (gold classes),
    whatever the label distribution: a label prior cannot raise it."""
    _check_lengths(preds, labels)
    classes = sorted(set(labels))
    if not classes:
        return 0.0
    recall = [sum(int(p == c) for p, y in zip(preds, labels) if y == c) / labels.count(c) for c in classes]
    return sum(recall) / len(classes)


def majority_class(labels: Sequence[int]) -> tuple[int | None, float]:
    """(most frequent label, its share): the accuracy of always answering it (lowest label on ties)."""
    if not labels:
        return None, 0.0
    counts = {c: list(labels).count(c) for c in set(labels)}
    top = min(counts, key=lambda c: (-counts[c], c))
    return top, counts[top] / len(labels)


def majority_record(labels: Sequence[int], label_names: Sequence[str]) -> dict:
    """{"label": name of the commonest label, "accuracy": the accuracy of always answering it}."""
    label, share = majority_class(labels)
    return {"label": None if label is None else label_names[label], "accuracy": share}


def argmax_rows(scores: Sequence[Sequence[float]]) -> list[int]:
    """Index of each row's highest score (the first of ties, as torch.argmax)."""
    return [max(range(len(s)), key=s.__getitem__) for s in scores]


def top_prediction_share(preds: Sequence[int]) -> float:
    """Share of the most frequent prediction (1.0: the prompt gives one answer to everything)."""
    return majority_class(preds)[1]


METRICS: dict[str, Callable[[Sequence[int], Sequence[int]], float]] = {
    "accuracy": accuracy,
    "f1": f1,
    "macro_f1": macro_f1,
    "balanced_accuracy": balanced_accuracy,
}
PRIOR_METRICS = ("macro_f1", "balanced_accuracy")
"""Reported beside every classification task's own metrics, so that a label prior is not read as skill."""


def compute(names: Sequence[str], preds: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    """All metrics in `names`, by name."""
    return {name: METRICS[name](preds, labels) for name in names}


def classification_report(names: Sequence[str], preds: Sequence[int], labels: Sequence[int]) -> dict[str, float]:
    """The task's metrics (`names`), then macro-F1, balanced accuracy and the share of the commonest answer."""
    out = compute(list(names) + [m for m in PRIOR_METRICS if m not in names], preds, labels)
    out["top_prediction_share"] = top_prediction_share(preds)
    return out


def gold_log_prob(log_probs: Sequence[Sequence[float]], labels: Sequence[int]) -> float:
    """Mean log-probability of the gold label; log_probs: per row, normalised log-probabilities over the labels."""
    _check_lengths(log_probs, labels)
    return sum(row[y] for row, y in zip(log_probs, labels)) / len(labels) if labels else 0.0


def _check_lengths(preds: Sequence[int], labels: Sequence[int]) -> None:
    if len(preds) != len(labels):
        raise ValueError(f"{len(preds)} predictions for {len(labels)} labels")
