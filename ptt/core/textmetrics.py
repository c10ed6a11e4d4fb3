"""Text metrics of the generation tasks: SQuAD exact match / token F1, and ROUGE-1/2/L.

Pure functions. Every score is in [0, 1] (not percent) and takes the best match over all references of an
example, as SQuAD's official evaluate-v1.1.py does for EM/F1. ROUGE is the F-measure of Google's
`rouge-score` package with the Porter stemmer (its tokenizer lower-cases and keeps only [a-z0-9] tokens).
"""
from __future__ import annotations

import re
import string
from collections import Counter
from functools import lru_cache
from typing import Sequence

from ptt.errors import PttError

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
METRICS = ("exact_match", "f1", *ROUGE_TYPES)
_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalization: lower-case, drop punctuation, drop the articles a/an/the, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _references(references: Sequence[str] | str) -> list[str]:
    """A list of references (a bare string is one reference); an empty list is a caller error."""
    refs = [references] if isinstance(references, str) else list(references)
    if not refs:
        raise ValueError("references: an example needs at least one reference answer; got none")
    return refs


def exact_match(prediction: str, references: Sequence[str] | str) -> float:
    """1.0 if the normalized prediction equals any normalized reference, else 0.0."""
    guess = normalize_answer(prediction)
    return float(any(guess == normalize_answer(ref) for ref in _references(references)))


def _token_f1(prediction: str, reference: str) -> float:
    """Token-overlap F1 of one pair, as in evaluate-v1.1.py: no common token (so also an empty side) gives 0."""
    guess, gold = normalize_answer(prediction).split(), normalize_answer(reference).split()
    common = sum((Counter(guess) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(guess), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def f1(prediction: str, references: Sequence[str] | str) -> float:
    """Token F1 of the prediction against its best reference."""
    return max(_token_f1(prediction, ref) for ref in _references(references))


@lru_cache(maxsize=1)
def _scorer():
    """One RougeScorer for the process (building it loads the stemmer); imported here, only when ROUGE is asked."""
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        raise PttError("metrics: ROUGE needs the rouge-score package, which is not installed; "
                       "run `pip install rouge-score`") from None
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)


def rouge(prediction: str, references: Sequence[str] | str) -> dict[str, float]:
    """ROUGE-1/2/L F-measure of the prediction, each the maximum over the references."""
    best = dict.fromkeys(ROUGE_TYPES, 0.0)
    for ref in _references(references):
        scores = _scorer().score(ref, prediction)  # score(target, prediction)
        for name in ROUGE_TYPES:
            best[name] = max(best[name], scores[name].fmeasure)
    return best


def compute_generation(names: Sequence[str], predictions: Sequence[str],
                       references_list: Sequence[Sequence[str]]) -> dict[str, float]:
    """Average each named metric ("exact_match", "f1", "rouge1", "rouge2", "rougeL") over the examples.

    predictions[i] is scored against every string of references_list[i] and keeps the best score. All values are
    fractions in [0, 1] (multiply by 100 for the percentages papers report). No examples give 0.0 for every metric.
    """
    unknown = [name for name in names if name not in METRICS]
    if unknown:
        raise ValueError(f"metrics: unknown metric(s) {', '.join(unknown)}; use: {', '.join(METRICS)}")
    if len(predictions) != len(references_list):
        raise ValueError(f"predictions: {len(predictions)} predictions but {len(references_list)} reference "
                         "lists; give one reference list per prediction")
    totals = dict.fromkeys(names, 0.0)
    want_rouge = any(name in ROUGE_TYPES for name in names)
    for prediction, references in zip(predictions, references_list):
        scores = rouge(prediction, references) if want_rouge else {}
        for name in names:
            if name == "exact_match":
                totals[name] += exact_match(prediction, references)
            elif name == "f1":
                totals[name] += f1(prediction, references)
            else:
                totals[name] += scores[name]
    count = len(predictions)
    return {name: total / count if count else 0.0 for name, total in totals.items()}
