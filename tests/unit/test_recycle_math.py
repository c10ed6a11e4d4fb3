"""Recycling math and token matching (pure; no model)."""

from __future__ import annotations

import pytest
import torch

from ptt.errors import PttError
from ptt.transfer.cross_model.recycle import canonical, fit_linear, recycle, shared_ids, word_scheme


def test_both_methods_recover_a_linear_relation_and_differ_on_a_curved_one():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 8, generator=g, dtype=torch.float64)
    a = torch.randn(8, 6, generator=g, dtype=torch.float64)
    prompt = torch.randn(4, 8, generator=g).float()
    for method in ("v2v-lin", "lin-comb"):
        assert torch.allclose(recycle(prompt, x, x @ a, method), (prompt.double() @ a).float(), atol=1e-5)
    assert torch.allclose(fit_linear(x, x @ a), a, atol=1e-10)
    curved = torch.tanh(x @ a) * 3
    v2v, lin = recycle(prompt, x, curved, "v2v-lin"), recycle(prompt, x, curved, "lin-comb")
    assert (v2v - lin).abs().max() > 1e-2  # a local fit is not the global map (min-norm over all tokens would be)
    with pytest.raises(PttError, match="--method nearest"):
        recycle(prompt, x, curved, "nearest")


def test_word_start_markers_of_three_schemes_read_alike():
    assert word_scheme({"▁the": 0, "▁a": 1, "s": 2}) == "sentencepiece"
    assert word_scheme({"Ġthe": 0, "Ġa": 1, "s": 2}) == "bpe"
    assert word_scheme({"the": 0, "##s": 1, "##ing": 2}) == "wordpiece"
    assert canonical("▁movie", "sentencepiece") == canonical("Ġmovie", "bpe") == canonical("movie", "wordpiece")
    assert canonical("ing", "sentencepiece") == canonical("ing", "bpe") == canonical("##ing", "wordpiece") == "ing"
    src = {" the": 5, " movie": 9, "ing": 3, " only_src": 1}
    tgt = {" movie": 2, " the": 7, "ing": 40, " only_tgt": 0}
    assert shared_ids(src, tgt) == ([9, 5, 3], [2, 7, 40])  # in target-id order
    assert shared_ids(src, tgt, limit=2) == ([9, 5], [2, 7])
    assert shared_ids(src, tgt, vocab_sizes=(10, 10)) == ([9, 5], [2, 7])  # ids past an embedding are dropped
