"""Every indicator's matrix over a set of prompts of one backbone: embedding similarities and ON."""

from __future__ import annotations

from typing import Sequence

import torch

from ptt.errors import PttError
from ptt.transfer.indicators.embedding import INDICATORS, Matrix, similarity_matrix
from ptt.transfer.indicators.overlap import activation_masks, on_all, thirds


def indicator_matrices(scorer, prompts: Sequence[torch.Tensor]) -> dict[str, Matrix]:
    """Every indicator's [N][N] matrix over `prompts` (N tensors [L, H] of the scorer's backbone and one length).

    Keys: the `INDICATORS` names; `on_all` (ON over all FFN layers); `on_first_third`, `on_last_third`
    (ON over the first / last third of the layers in `activation_masks` order, see `thirds`). Every rank calls
    this; the values are plain floats (json-ready).
    """
    if not prompts:
        raise PttError("--prompts: give at least one prompt artifact")
    out = {name: similarity_matrix(prompts, fn) for name, fn in INDICATORS.items()}
    masks = activation_masks(scorer, prompts)
    first, last = thirds(len(masks[0]))
    on = {"on_all": on_all,
          "on_first_third": lambda a, b: on_all(a[first], b[first]),
          "on_last_third": lambda a, b: on_all(a[last], b[last])}
    out.update({name: similarity_matrix(masks, fn) for name, fn in on.items()})
    return out
