"""Paired statistics and prompt averaging on hand-made values."""

from __future__ import annotations

import math

import pytest
import torch

from ptt.transfer.comparison.paired import paired_difference, t95
from ptt.transfer.sources.combine import average_prompts


def test_paired_difference_by_hand():
    r = paired_difference([0.8, 0.7, 0.9], [0.6, 0.7, 0.5])
    assert r["differences"] == pytest.approx([0.2, 0.0, 0.4])
    assert r["mean"] == pytest.approx(0.2) and r["wins"] == 2 and r["ties"] == 1
    half = 4.303 * 0.2 / math.sqrt(3)  # sd of (0.2, 0, 0.4) is 0.2; t(2) = 4.303
    assert r["ci95"] == pytest.approx([0.2 - half, 0.2 + half])


def test_paired_difference_single_seed_and_bad_input():
    r = paired_difference([0.5], [0.7])
    assert r["mean"] == pytest.approx(-0.2) and r["ci95"] is None and r["wins"] == 0
    with pytest.raises(ValueError):
        paired_difference([0.5, 0.6], [0.7])
    with pytest.raises(ValueError):
        paired_difference([], [])


def test_t95_table_and_normal_limit():
    assert t95(1) == 12.706 and t95(4) == 2.776 and t95(30) == 2.042
    # beyond the table: the exact quantiles of t(31), t(40), t(100) are 2.0395, 2.0211, 1.9840
    assert t95(31) == pytest.approx(2.0395, abs=1e-3) and t95(40) == pytest.approx(2.0211, abs=1e-3)
    assert t95(100) == pytest.approx(1.9840, abs=1e-3) and t95(10 ** 6) == pytest.approx(1.96, abs=1e-3)
    with pytest.raises(ValueError):
        t95(0)


def test_average_of_prompts_is_their_mean_and_weights_normalise():
    a, b, c = (torch.full((2, 3), v) for v in (1.0, 2.0, 6.0))
    assert torch.equal(average_prompts([a, b, c]), torch.full((2, 3), 3.0))
    assert torch.allclose(average_prompts([a, c], [3, 1]), torch.full((2, 3), 2.25))
    g = torch.Generator().manual_seed(0)
    ps = [torch.randn(4, 5, generator=g) for _ in range(3)]
    assert torch.allclose(average_prompts(ps), torch.stack(ps).mean(0))
    with pytest.raises(ValueError, match="one shape"):
        average_prompts([a, torch.zeros(3, 3)])
    with pytest.raises(ValueError, match="weights"):
        average_prompts([a, b], [1, -1])
