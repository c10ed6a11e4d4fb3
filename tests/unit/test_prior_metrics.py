"""Metrics that a label prior cannot inflate, and the arm specs of `ptt transfer compare` (pure functions)."""

from __future__ import annotations

import math

import pytest

from ptt.config.arms import baseline_arm, parse_arms, run_names
from ptt.core.metrics import (accuracy, balanced_accuracy, classification_report, gold_log_prob, macro_f1,
                              majority_class, top_prediction_share)
from ptt.errors import PttError
from ptt.transfer.sources.ranking import log_softmax


@pytest.mark.parametrize("labels", [[1] * 65 + [0] * 35, [0] * 10 + [1] * 80 + [2] * 10, [2] * 3 + [0] * 97])
def test_a_constant_answer_scores_chance_on_balanced_accuracy_whatever_the_prior(labels):
    classes = sorted(set(labels))
    for answer in classes:
        preds = [answer] * len(labels)
        assert balanced_accuracy(preds, labels) == pytest.approx(1 / len(classes))
        assert accuracy(preds, labels) == pytest.approx(labels.count(answer) / len(labels))  # the prior's reward
    label, share = majority_class(labels)
    assert share == max(labels.count(c) for c in classes) / len(labels) and labels.count(label) / len(labels) == share


def test_macro_f1_and_balanced_accuracy_by_hand():
    labels = [0, 0, 0, 1, 1, 2]
    preds = [0, 0, 1, 1, 2, 2]
    # recalls: 2/3, 1/2, 1/1; F1: class 0 2*2/(2*2+0+1)=0.8, class 1 2*1/(2+1+1)=0.5, class 2 2*1/(2+1+0)=2/3
    assert balanced_accuracy(preds, labels) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert macro_f1(preds, labels) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert top_prediction_share(preds) == pytest.approx(2 / 6)
    report = classification_report(("accuracy",), preds, labels)
    assert list(report) == ["accuracy", "macro_f1", "balanced_accuracy", "top_prediction_share"]
    assert report["accuracy"] == pytest.approx(4 / 6)


def test_gold_log_prob_is_the_mean_normalised_log_probability():
    scores = [[2.0, 0.0], [0.0, 1.0], [5.0, 5.0]]
    logp = [log_softmax(s) for s in scores]
    for row in logp:
        assert sum(math.exp(v) for v in row) == pytest.approx(1.0)
    want = (math.log(1 / (1 + math.exp(-2))) + math.log(1 / (1 + math.exp(-1))) + math.log(0.5)) / 3
    assert gold_log_prob(logp, [0, 1, 1]) == pytest.approx(want)


def test_arm_specs_parse_name_and_refuse():
    arms = parse_arms("random,vocab,labels,from:runs/sst2/best,auto:lib,avg:lib,avg:lib/x:5,recycle:/p/q/best")
    assert [(a.kind, a.init, a.path, a.k) for a in arms] == [
        ("random", "uniform", None, None), ("vocab", "vocab", None, None), ("labels", "labels", None, None),
        ("from", None, "runs/sst2/best", None), ("auto", None, "lib", None), ("avg", None, "lib", 3),
        ("avg", None, "lib/x", 5), ("recycle", None, "/p/q/best", None)]
    names = run_names(arms)
    assert names["from:runs/sst2/best"] == "from-sst2-best" and names["avg:lib/x:5"] == "avg-lib-x-top5"
    assert len(set(names.values())) == len(arms)
    assert run_names(parse_arms("from:a/best,from:b/a/best"))["from:b/a/best"] == "from-a-best-2"
    assert baseline_arm(arms, None).spec == "random" and baseline_arm(arms[1:], None).spec == "vocab"
    assert baseline_arm(arms, "auto:lib").spec == "auto:lib"
    for bad, words in (("random", "at least two"), ("random,bogus", "'bogus' is not an arm"),
                       ("random,mix", "'mix' is not an arm"), ("random,mix:", "not an arm"),
                       ("random,avg:lib:0", "K must be at least 1"),
                       ("random,uniform", "repeats"), ("random,from:", "not an arm")):
        with pytest.raises(PttError, match=words):
            parse_arms(bad)
    with pytest.raises(PttError, match="--baseline-arm 'x'"):
        baseline_arm(arms, "x")
