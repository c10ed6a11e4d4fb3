"""Tests for ptt.core.textmetrics: SQuAD EM/F1 (checked against the official v1.1 script's logic) and ROUGE."""
import random
import re
import string
import sys
from collections import Counter

import pytest

from ptt.core import textmetrics
from ptt.core.textmetrics import (METRICS, compute_generation, exact_match, f1, normalize_answer,
                                  rouge)
from ptt.errors import PttError


# The official SQuAD evaluate-v1.1.py functions, restated as reference for the property test below.
def official_normalize(s):
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def official_f1(prediction, ground_truth):
    p, g = official_normalize(prediction).split(), official_normalize(ground_truth).split()
    same = sum((Counter(p) & Counter(g)).values())
    if same == 0:
        return 0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


# ---------------------------------------------------------------- normalization

@pytest.mark.parametrize("text,expected", [
    ("The Denver Broncos!", "denver broncos"),
    ("an apple a day", "apple day"),
    ("  theory   of\tthe\nmind ", "theory of mind"),   # "the" only as a whole word
    ("Saint-Bernadette's (1858).", "saintbernadettes 1858"),
    ("A", ""),
    ("", ""),
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


def test_normalization_and_f1_match_the_official_script():
    rng = random.Random(0)
    words = ["the", "a", "an", "Cat", "cat.", "dog,", "DOG", "(x)", "'s", "1,000", "-", "Théâtre", "an-", "in"]
    for _ in range(500):
        pred = " ".join(rng.choices(words, k=rng.randint(0, 5)))
        gold = " ".join(rng.choices(words, k=rng.randint(0, 5)))
        assert normalize_answer(pred) == official_normalize(pred)
        assert f1(pred, [gold]) == pytest.approx(official_f1(pred, gold))
        assert exact_match(pred, [gold]) == float(official_normalize(pred) == official_normalize(gold))


# ---------------------------------------------------------------- exact match

def test_exact_match_normalizes_case_punctuation_articles():
    assert exact_match("the Denver Broncos!", ["Denver Broncos"]) == 1.0
    assert exact_match("Denver  Broncos", ["the denver broncos."]) == 1.0
    assert exact_match("Broncos", ["Denver Broncos"]) == 0.0


def test_exact_match_max_over_references():
    assert exact_match("December 1972", ["14 December 1972 UTC", "December 1972"]) == 1.0
    assert exact_match("1972", ["14 December 1972 UTC", "December 1972"]) == 0.0
    assert exact_match("Paris", "Paris") == 1.0  # a bare string is one reference


def test_exact_match_empty_prediction_and_reference():
    assert exact_match("", ["Paris"]) == 0.0
    assert exact_match("", [""]) == 1.0        # both normalize to "" (as in the official script)
    assert exact_match("the", ["a"]) == 1.0     # articles only: both empty after normalization
    with pytest.raises(ValueError, match="references"):
        exact_match("Paris", [])


# ---------------------------------------------------------------- F1

def test_f1_partial_overlap():
    assert f1("Denver Broncos team", ["Denver Broncos"]) == pytest.approx(0.8)  # P 2/3, R 1
    assert f1("x x y", ["x y"]) == pytest.approx(0.8)                            # counts clipped
    assert f1("The Broncos", ["Denver Broncos"]) == pytest.approx(2 / 3)         # "the" dropped: P 1, R 1/2


def test_f1_max_over_references():
    refs = ["Carolina Panthers", "Denver Broncos", "the Broncos"]
    assert f1("Broncos", refs) == 1.0
    assert f1("Denver", refs) == pytest.approx(2 / 3)


def test_f1_empty_prediction_and_reference():
    assert f1("", ["Paris"]) == 0.0
    assert f1("", [""]) == 0.0       # v1.1 script: no common token -> 0, even when both are empty
    assert f1("Paris", [""]) == 0.0
    assert f1("a an the", ["Paris"]) == 0.0
    with pytest.raises(ValueError):
        f1("Paris", [])


# ---------------------------------------------------------------- ROUGE

def test_rouge_identical_and_disjoint():
    text = "Amanda baked cookies and will bring Jerry some tomorrow."
    assert rouge(text, [text]) == {"rouge1": pytest.approx(1.0), "rouge2": pytest.approx(1.0),
                                   "rougeL": pytest.approx(1.0)}
    assert rouge("completely different words here", [text]) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    assert rouge("", [text]) == {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}


def test_rouge_stems_and_ignores_case():
    from rouge_score import rouge_scorer

    assert rouge("The cat is running", ["the cat is run"])["rouge1"] == pytest.approx(1.0)
    plain = rouge_scorer.RougeScorer(["rouge1"], use_stemmer=False).score("the cat is run", "The cat is running")
    assert plain["rouge1"].fmeasure < 1.0  # the match above comes from the stemmer


def test_rouge_known_value_and_max_over_references():
    scores = rouge("the cat sat", ["the cat sat on the mat"])
    assert scores["rouge1"] == pytest.approx(2 * 1.0 * 0.5 / 1.5)  # P 3/3, R 3/6
    assert scores["rouge2"] == pytest.approx(2 * 1.0 * 0.4 / 1.4)  # P 2/2, R 2/5
    best = rouge("the cat sat", ["dogs bark loudly", "the cat sat"])
    assert best == {"rouge1": pytest.approx(1.0), "rouge2": pytest.approx(1.0), "rougeL": pytest.approx(1.0)}
    with pytest.raises(ValueError):
        rouge("x", [])


# ---------------------------------------------------------------- compute_generation

def test_compute_generation_averages_over_examples():
    preds = ["Denver Broncos", "Paris", "the cat sat"]
    refs = [["Denver Broncos", "Broncos"], ["London"], ["the cat sat on the mat"]]
    out = compute_generation(METRICS, preds, refs)
    assert set(out) == set(METRICS)
    assert out["exact_match"] == pytest.approx(1 / 3)
    assert out["f1"] == pytest.approx((1.0 + 0.0 + 2 / 3) / 3)  # "cat sat" vs "cat sat on mat": P 1, R 1/2
    assert out["rouge1"] == pytest.approx((1.0 + 0.0 + 2 / 3) / 3)


def test_compute_generation_only_named_metrics_and_errors():
    assert compute_generation(["f1"], ["a b"], [["a b"]]) == {"f1": 1.0}
    assert compute_generation(["rougeL", "exact_match"], [], []) == {"rougeL": 0.0, "exact_match": 0.0}
    with pytest.raises(ValueError, match="bleu"):
        compute_generation(["bleu"], ["x"], [["x"]])
    with pytest.raises(ValueError, match="one reference list per prediction"):
        compute_generation(["f1"], ["x", "y"], [["x"]])


def test_missing_rouge_package_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "rouge_score", None)  # import fails as if not installed
    textmetrics._scorer.cache_clear()
    try:
        with pytest.raises(PttError, match="pip install rouge-score"):
            rouge("a", ["a"])
        assert compute_generation(["exact_match", "f1"], ["x"], [["x"]]) == {"exact_match": 1.0, "f1": 1.0}
    finally:
        textmetrics._scorer.cache_clear()
