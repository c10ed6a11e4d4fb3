"""Convergence arithmetic, hand-checked."""

import math

import pytest

from ptt.transfer.comparison import Target, seed_summary
from ptt.transfer.curves import area_under_curve, improvement_target, json_safe, mean_std, speedup, steps_to_target

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
    s = seed_summary(RANDOM, TRANSFER, Target())
    assert s["target"] == pytest.approx(0.86)
    assert s["arms"]["random"]["steps_to_target"] == 40
    assert s["arms"]["transfer"]["steps_to_target"] == 20
    assert s["speedup"] == 2.0
    assert s["arms"]["transfer"]["steps_to_random_best"] == 30 and s["speedup_to_random_best"] == 40 / 30
    never = seed_summary(RANDOM, [(0, 0.5), (40, 0.6)], Target())
    assert never["arms"]["transfer"]["steps_to_target"] is None and never["speedup"] is None


def test_target_kinds():
    assert Target("of_best", 0.9).level(RANDOM) == pytest.approx(0.81)
    assert Target("absolute", 0.75).level(RANDOM) == 0.75


def test_report_says_unbounded_not_never_when_the_transfer_starts_at_the_target():
    from ptt.transfer.comparison import build_report, render_markdown
    from ptt.config import TrainConfig

    at_start = [(0, 0.9), (10, 0.9), (20, 0.91), (30, 0.9), (40, 0.9)]
    report = build_report({"random": [RANDOM], "transfer": [at_start]}, TrainConfig(task="mr", eval_every=10,
                          max_steps=40), "src", {"task": "sst2"}, Target())
    assert report["speedup"]["infinite"] == 1 and report["speedup"]["mean"] is None
    assert report["speedup_at_least"]["mean"] == 4.0  # 40 random steps / one 10-step eval interval
    text = render_markdown(report)
    assert "unbounded" in text and "never reached" not in text
