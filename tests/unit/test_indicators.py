"""Transferability indicators and rank correlations on hand-made inputs with hand-checked answers."""

from __future__ import annotations

import math

import pytest
import torch

from ptt.transfer.indicators.embedding import (INDICATORS, cosine_flat, cosine_tokenwise, euclidean_flat,
                                               euclidean_tokenwise, similarity_matrix)
from ptt.transfer.indicators.overlap import on_all, on_by_layer, on_overlap, on_windows, thirds
from ptt.transfer.sources.gather import own_prompt_index
from ptt.transfer.indicators.correlation import correlate, kendall, rankdata, spearman


def mask(size: int, active: set[int]) -> torch.Tensor:
    m = torch.zeros(size, dtype=torch.bool)
    m[list(active)] = True
    return m


# --- embedding similarities ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(INDICATORS))
def test_identical_prompts_score_one_on_every_similarity(name):
    p = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    assert INDICATORS[name](p, p.clone()) == pytest.approx(1.0, abs=1e-12)


def test_orthogonal_prompts_have_zero_cosine():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    assert cosine_flat(a, b) == pytest.approx(0.0, abs=1e-12)
    assert cosine_tokenwise(a, b) == pytest.approx(0.0, abs=1e-12)


def test_cosine_flat_and_tokenwise_differ_as_computed_by_hand():
    a = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    b = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert cosine_tokenwise(a, b) == pytest.approx(0.5)  # (cos 0 + cos 90deg) / 2
    assert cosine_flat(a, b) == pytest.approx(1 / math.sqrt(10))  # <a,b> = 1, |a| = sqrt 5, |b| = sqrt 2
    assert cosine_flat(a, -a) == pytest.approx(-1.0)


def test_euclidean_similarities_by_hand():
    a = torch.zeros(2, 2)
    b = torch.tensor([[3.0, 4.0], [0.0, 0.0]])
    assert euclidean_flat(a, a) == 1.0 and euclidean_tokenwise(a, a) == 1.0
    assert euclidean_flat(a, b) == pytest.approx(1 / 6)  # ||a - b|| = 5
    assert euclidean_tokenwise(a, b) == pytest.approx((1 / 6 + 1) / 2)  # distances 5 and 0


def test_tokenwise_needs_equal_lengths_and_flat_needs_equal_sizes():
    with pytest.raises(ValueError, match="same length"):
        cosine_tokenwise(torch.ones(3, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="same length"):
        euclidean_tokenwise(torch.ones(3, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="different sizes"):
        cosine_flat(torch.ones(3, 4), torch.ones(2, 4))
    with pytest.raises(ValueError, match="different sizes"):
        euclidean_flat(torch.ones(3, 4), torch.ones(2, 4))


def test_similarity_matrix_is_symmetric_with_unit_diagonal():
    g = torch.Generator().manual_seed(1)
    prompts = [torch.randn(3, 4, generator=g) for _ in range(3)]
    m = similarity_matrix(prompts, cosine_flat)
    assert len(m) == 3 and all(len(r) == 3 for r in m)
    for i in range(3):
        assert m[i][i] == pytest.approx(1.0)
        for j in range(3):
            assert m[i][j] == pytest.approx(m[j][i])
    assert m[0][1] == pytest.approx(cosine_flat(prompts[0], prompts[1]))


# --- ON -----------------------------------------------------------------------------------------------------

def test_on_overlap_identical_disjoint_empty_and_partial():
    assert on_overlap(mask(6, {1, 4}), mask(6, {1, 4})) == 1.0
    assert on_overlap(mask(6, {0, 1}), mask(6, {2, 3})) == 0.0
    assert on_overlap(mask(6, set()), mask(6, {2, 3})) == 0.0
    assert on_overlap(mask(6, set()), mask(6, set())) == 0.0
    # A = {0,1,2,3}, B = {2,3,4}: |A n B| = 2, so 2 / sqrt(4 * 3) (Jaccard would be 2/5)
    assert on_overlap(mask(6, {0, 1, 2, 3}), mask(6, {2, 3, 4})) == pytest.approx(2 / math.sqrt(12))
    two_d = torch.tensor([[True, False], [True, True]])
    assert on_overlap(two_d, torch.tensor([[True, True], [False, True]])) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        on_overlap(mask(6, {1}), mask(5, {1}))


def test_on_per_layer_all_layers_and_windows_by_hand():
    a = [mask(5, {0, 1}), mask(5, {0}), mask(5, {0, 1, 2, 3})]
    b = [mask(5, {0, 1}), mask(5, {1}), mask(5, {2, 3, 4})]
    assert on_by_layer(a, b) == pytest.approx([1.0, 0.0, 2 / math.sqrt(12)])
    # all layers: |A| = 7, |B| = 6, |A n B| = 4
    assert on_all(a, b) == pytest.approx(4 / math.sqrt(42))
    # windows of 2 layers: layers 0-1 (|A| = 3, |B| = 3, overlap 2), then layer 2 alone
    assert on_windows(a, b, 2) == pytest.approx([2 / 3, 2 / math.sqrt(12)])
    assert on_windows(a, b, 3) == pytest.approx([on_all(a, b)])
    assert on_all(a, a) == 1.0
    with pytest.raises(ValueError):
        on_by_layer(a, b[:2])
    with pytest.raises(ValueError):
        on_windows(a, b, 0)


def test_thirds():
    assert thirds(12) == (slice(0, 4), slice(8, 12))
    assert thirds(4) == (slice(0, 1), slice(3, 4))
    assert thirds(2) == (slice(0, 1), slice(1, 2))


# --- rank correlation ---------------------------------------------------------------------------------------

def test_rankdata_averages_ties():
    assert rankdata([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]


def test_spearman_and_kendall_perfect_and_reversed():
    x = [1, 2, 3, 4, 5]
    assert spearman(x, [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert kendall(x, [10, 20, 30, 40, 50]) == pytest.approx(1.0)
    assert spearman(x, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall(x, [5, 4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3], [1, 4, 9]) == pytest.approx(1.0)  # monotone, not linear


def test_spearman_and_kendall_hand_checked():
    x, y = [1, 2, 3, 4, 5], [3, 1, 2, 5, 4]
    assert spearman(x, y) == pytest.approx(0.6)  # 1 - 6 * 8 / (5 * 24)
    assert kendall(x, y) == pytest.approx(0.4)  # 7 concordant, 3 discordant of 10 pairs


def test_spearman_and_kendall_with_ties():
    x, y = [1, 2, 2, 3], [1, 2, 3, 4]
    assert spearman(x, y) == pytest.approx(4.5 / math.sqrt(4.5 * 5))  # 0.9487 (scipy agrees)
    assert kendall(x, y) == pytest.approx(5 / math.sqrt(5 * 6))  # tau-b: 5 concordant, 1 pair tied in x
    assert kendall([1, 1, 2], [1, 1, 2]) == pytest.approx(1.0)  # tied in both: still perfect under tau-b


def test_undefined_correlations_are_none_and_bad_lengths_raise():
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    assert kendall([1, 1, 1], [1, 2, 3]) is None
    assert spearman([1], [2]) is None and kendall([1], [2]) is None
    with pytest.raises(ValueError):
        spearman([1, 2], [1, 2, 3])
    with pytest.raises(ValueError):
        kendall([1, 2], [1, 2, 3])


LABELS = ["sst2", "mr", "mnli"]
INDICATOR = [[1.0, 0.9, 0.2],
             [0.9, 1.0, 0.3],
             [0.2, 0.3, 1.0]]
TASKS = ["sst2", "mr", "snli"]
TRANSFER = [[0.90, 0.80, 0.40],
            [0.85, 0.90, 0.35],
            [0.50, 0.55, 0.80]]


def test_correlate_pairs_each_source_with_the_targets_own_prompt():
    out = correlate(INDICATOR, TRANSFER, LABELS, TASKS)
    sst2, mr, snli = (out["per_task"][t] for t in TASKS)
    # target sst2: sources mr (0.9, 0.85) and mnli (0.2, 0.5); its own prompt is left out
    assert sst2["own_prompt"] == "sst2" and sst2["n"] == 2
    assert sst2["spearman"] == pytest.approx(1.0) and sst2["kendall"] == pytest.approx(1.0)
    assert mr["n"] == 2 and mr["spearman"] == pytest.approx(1.0)
    assert snli == {"own_prompt": None, "n": 0, "spearman": None, "kendall": None}  # no snli prompt
    pooled = out["pooled"]
    assert pooled["n"] == 4
    assert pooled["spearman"] == pytest.approx(4.5 / math.sqrt(22.5))  # x has one tie (0.9, 0.9)
    assert pooled["kendall"] == pytest.approx(5 / math.sqrt(30))
    assert {(p["source"], p["target"]) for p in out["pairs"]} == {("mr", "sst2"), ("mnli", "sst2"),
                                                                   ("sst2", "mr"), ("mnli", "mr")}
    with_self = correlate(INDICATOR, TRANSFER, LABELS, TASKS, include_self=True)
    assert with_self["per_task"]["sst2"]["n"] == 3 and with_self["pooled"]["n"] == 6


def test_correlate_with_reordered_rows_and_numbered_labels_as_ptt_indicate_calls_it():
    from ptt.commands.indicators import correlations

    rows = ["mnli", "sst2", "mr", "random"]  # matrix.json order, with the random row
    values = [TRANSFER[2], TRANSFER[0], TRANSFER[1], [0.5, 0.5, 0.5]]
    out = correlations({"cos": INDICATOR}, {"rows": rows, "tasks": TASKS, "values": values}, LABELS)["cos"]
    assert out == correlate(INDICATOR, TRANSFER, LABELS, TASKS) | {"pairs": out["pairs"]}
    assert own_prompt_index("sst2", ["mr", "sst2#1", "sst2#2"]) == 1
    assert own_prompt_index("qqp", ["mr", "sst2#1"]) is None


def test_correlate_skips_missing_transfer_values_and_checks_shapes():
    values = [row[:] for row in TRANSFER]
    values[2][0] = None
    assert correlate(INDICATOR, values, LABELS, TASKS)["per_task"]["sst2"]["n"] == 1
    with pytest.raises(ValueError):
        correlate(INDICATOR[:2], TRANSFER, LABELS, TASKS)
    with pytest.raises(ValueError):
        correlate(INDICATOR, [r[:2] for r in TRANSFER], LABELS, TASKS)
