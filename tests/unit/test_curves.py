"""Convergence arithmetic, hand-checked."""

import math

import pytest

from ptt.transfer.comparison.report import Target, seed_summary
from ptt.transfer.comparison.curves import (area_under_curve, improvement_target, json_safe, mean_std, speedup,
                                            steps_to_target)

RANDOM = [(0, 0.50), (10, 0.60), (20, 0.70), (30, 0.80), (40, 0.90)]
TRANSFER = [(0, 0.70), (10, 0.85), (20, 0.88), (30, 0.90), (40, 0.91)]


def test_improvement_target_is_ninety_percent_of_the_random_arms_own_gain():
    assert improvement_target(RANDOM) == pytest.approx(0.5 + 0.9 * 0.4)  # 0.86
    assert improvement_target(RANDOM, 0.5) == pytest.approx(0.70)


def test_steps_to_target():
    assert steps_to_target(RANDOM, 0.86) == 40
    assert steps_to_target(TRANSFER, 0.86) == 20
    assert steps_to_target(RANDOM, 0.70) == 20  # reaching the level exactly counts
    assert steps_to_target(RANDOM, 0.95) is None


def test_area_under_curve_is_a_mean_metric():
    # trapezoids: (0.55 + 0.65 + 0.75 + 0.85) * 10 / 40
    assert area_under_curve(RANDOM) == pytest.approx(0.70)
    assert area_under_curve([(0, 1.0), (5, 1.0)]) == pytest.approx(1.0)
    assert area_under_curve([(0, 0.0), (10, 1.0)]) == pytest.approx(0.5)


def test_speedup_and_never_reached():
    assert speedup(40, 20) == 2.0
    assert speedup(None, 20) is None
    assert speedup(40, None) is None
    assert speedup(40, 0) == math.inf
    assert speedup(0, 0) == 1.0


def test_mean_std_leaves_out_what_is_not_a_number():
    s = mean_std([1.0, 3.0, None, math.inf])
    assert s == {"mean": 2.0, "std": 1.0, "n": 2, "excluded": 2, "missing": 1, "infinite": 1}
    assert mean_std([None])["mean"] is None
    assert json_safe({"a": [math.inf, 1.0]}) == {"a": ["inf", 1.0]}


def test_seed_summary_against_the_random_arms_target():
    s = seed_summary({"random": RANDOM, "from:x": TRANSFER}, "random", Target())
    assert s["target"] == pytest.approx(0.86)
    assert s["arms"]["random"]["steps_to_target"] == 40
    assert s["arms"]["from:x"]["steps_to_target"] == 20
    assert s["speedup"] == {"from:x": 2.0}
    assert s["arms"]["from:x"]["steps_to_baseline_best"] == 30
    never = seed_summary({"random": RANDOM, "from:x": [(0, 0.5), (40, 0.6)]}, "random", Target())
    assert never["arms"]["from:x"]["steps_to_target"] is None and never["speedup"]["from:x"] is None


def test_target_kinds():
    assert Target("of_best", 0.9).level(RANDOM) == pytest.approx(0.81)
    assert Target("absolute", 0.75).level(RANDOM) == 0.75


def test_report_says_unbounded_not_never_when_the_transfer_starts_at_the_target():
    from ptt.transfer.comparison.report import build_report, render_markdown
    from ptt.config import TrainConfig

    at_start = [(0, 0.9), (10, 0.9), (20, 0.91), (30, 0.9), (40, 0.9)]
    arms = [{"spec": "random", "name": "random", "kind": "random", "start": None},
            {"spec": "from:src", "name": "from-src", "kind": "from", "start": None}]
    report = build_report({"random": [RANDOM], "from:src": [at_start]}, TrainConfig(task="mr", eval_every=10,
                          max_steps=40), arms, "random", Target())
    assert report["speedup"]["from:src"]["infinite"] == 1 and report["speedup"]["from:src"]["mean"] is None
    assert report["speedup_at_least"]["from:src"]["mean"] == 4.0  # 40 random steps / one 10-step eval interval
    text = render_markdown(report)
    assert "unbounded" in text and "never reached" not in text


def test_n_arm_report_pairs_every_arm_with_the_baseline_seed_by_seed():
    """Three arms on three seeds, hand-made curves: the paired differences, intervals and wins are those of the
    per-seed numbers computed here by hand."""
    from ptt.config import TrainConfig
    from ptt.transfer.comparison.report import build_report, render_markdown

    def curve(start, end):
        return [(0, start), (10, (start + end) / 2), (20, end)]

    curves = {"random": [curve(0.5, 0.7), curve(0.4, 0.8), curve(0.5, 0.6)],
              "vocab": [curve(0.5, 0.7), curve(0.4, 0.8), curve(0.5, 0.6)],  # equal to random: no win, no loss
              "avg:lib:2": [curve(0.6, 0.8), curve(0.6, 0.7), curve(0.7, 0.9)]}
    arms = [{"spec": s, "name": s, "kind": s.split(":")[0], "start": None} for s in curves]
    report = build_report(curves, TrainConfig(task="mr", eval_every=10, max_steps=20, seed=7), arms, "random",
                          Target())
    assert report["seeds"] == [7, 8, 9] and set(report["paired"]) == {"vocab", "avg:lib:2"}
    best = report["paired"]["avg:lib:2"]["best"]
    assert best["differences"] == pytest.approx([0.1, -0.1, 0.3]) and best["wins"] == 2 and best["n"] == 3
    mean, sd = 0.1, math.sqrt(((0.0) ** 2 + (-0.2) ** 2 + 0.2 ** 2) / 2)
    assert best["mean"] == pytest.approx(mean)
    assert best["ci95"] == pytest.approx([mean - 4.303 * sd / math.sqrt(3), mean + 4.303 * sd / math.sqrt(3)])
    step0 = report["paired"]["avg:lib:2"]["step0"]
    assert step0["differences"] == pytest.approx([0.1, 0.2, 0.2]) and step0["wins"] == 3
    auc = report["paired"]["avg:lib:2"]["auc"]  # AUC of a 3-point linear curve is the mean of start and end
    assert auc["differences"] == pytest.approx([0.1, 0.05, 0.25])
    tie = report["paired"]["vocab"]["auc"]
    assert tie["wins"] == 0 and tie["ties"] == 3 and tie["ci95"] == pytest.approx([0.0, 0.0])
    assert report["aggregate"]["avg:lib:2"]["best"]["mean"] == pytest.approx((0.8 + 0.7 + 0.9) / 3)
    text = render_markdown(report)
    assert "wins 2/3" in text and "`avg:lib:2`" in text and "(baseline)" in text
