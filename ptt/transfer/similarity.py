"""Transferability indicators that compare two prompts directly (Su et al., NAACL 2022, section 6): embedding
similarity of the prompts themselves, and ON, the overlap of the feed-forward neurons two prompts activate
(the activations are recorded by `ptt.transfer.activations`). All pure functions.

Shapes: L = prompt length, H = hidden size, F = feed-forward (intermediate) size, P = recorded positions.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch

Matrix = list[list[float]]

# ---------------------------------------------------------------------------------------------------------
# Embedding similarities (pure)
# ---------------------------------------------------------------------------------------------------------

def _flat_pair(a: torch.Tensor, b: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if a.numel() != b.numel():
        raise ValueError(f"{name}: prompts of shape {tuple(a.shape)} and {tuple(b.shape)} have different sizes")
    return a.detach().reshape(-1).double(), b.detach().reshape(-1).double()


def _token_pair(a: torch.Tensor, b: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(f"{name}: expects two [L, H] prompts, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape != b.shape:
        raise ValueError(f"{name}: prompts of shape {tuple(a.shape)} and {tuple(b.shape)}; matching positions need "
                         "the same length and hidden size")
    return a.detach().double(), b.detach().double()


def cosine_flat(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of the two flattened prompts.

    Args: a, b: [L, H] (any shapes with the same number of elements). Returns a float in [-1, 1]
    (0 when either prompt is all zeros).
    """
    x, y = _flat_pair(a, b, "cosine_flat")
    return float(torch.nn.functional.cosine_similarity(x, y, dim=0))


def cosine_tokenwise(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over positions i of cos(a_i, b_i) (matching positions only).

    Args: a, b: [L, H] of the same shape, else ValueError. Returns a float in [-1, 1].
    Note: the authors' released script averages over *all* L x L token pairs; this is the
    position-matched variant.
    """
    x, y = _token_pair(a, b, "cosine_tokenwise")
    return float(torch.nn.functional.cosine_similarity(x, y, dim=1).mean())


def euclidean_flat(a: torch.Tensor, b: torch.Tensor) -> float:
    """1 / (1 + ||a - b||) of the flattened prompts: 1 for identical prompts, towards 0 as they move apart.

    Args: a, b: [L, H] (same number of elements).
    """
    x, y = _flat_pair(a, b, "euclidean_flat")
    return float(1.0 / (1.0 + torch.linalg.vector_norm(x - y)))


def euclidean_tokenwise(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over positions i of 1 / (1 + ||a_i - b_i||).

    Args: a, b: [L, H] of the same shape, else ValueError.
    """
    x, y = _token_pair(a, b, "euclidean_tokenwise")
    return float((1.0 / (1.0 + torch.linalg.vector_norm(x - y, dim=1))).mean())


INDICATORS: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {
    "cosine_flat": cosine_flat,
    "cosine_tokenwise": cosine_tokenwise,
    "euclidean_flat": euclidean_flat,
    "euclidean_tokenwise": euclidean_tokenwise,
}
"""The embedding-similarity indicators by name (each: two [L, H] prompts -> float, 1 for identical prompts)."""


def similarity_matrix(prompts: Sequence, fn: Callable[[Any, Any], float]) -> Matrix:
    """[N][N] with entry (i, j) = fn(prompts[i], prompts[j]). prompts: N tensors [L, H] (or N per-layer mask lists)."""
    return [[fn(a, b) for b in prompts] for a in prompts]


# ---------------------------------------------------------------------------------------------------------
# ON: overlap of activated neurons (pure)
# ---------------------------------------------------------------------------------------------------------

def on_overlap(mask_a: torch.Tensor, mask_b: torch.Tensor) -> float:
    """Overlap of two sets of activated neurons: |A n B| / sqrt(|A| |B|).

    Args: mask_a, mask_b: boolean masks of the same shape (any shape; e.g. [P, F] of one layer), True where a
    neuron is active (activation > 0). Returns a float in [0, 1]: 1 for identical non-empty sets, 0 for
    disjoint ones, and 0.0 when either set is empty.

    This is the cosine similarity of the two binarized activation vectors, which is how the paper's ON
    ("overlapping rate of activated neurons") is computed: the authors binarize the FFN activations at > 0 and
    take the cosine of the 0/1 vectors. It is not the Jaccard index |A n B| / |A u B|, which is smaller
    whenever the sets differ (e.g. A={1,2}, B={2,3}: this gives 0.5, Jaccard 1/3).
    """
    if mask_a.shape != mask_b.shape:
        raise ValueError(f"on_overlap: masks of shape {tuple(mask_a.shape)} and {tuple(mask_b.shape)}")
    a, b = mask_a.reshape(-1).bool(), mask_b.reshape(-1).bool()
    na, nb = int(a.sum()), int(b.sum())
    if na == 0 or nb == 0:
        return 0.0
    return int((a & b).sum()) / math.sqrt(na * nb)


def _check_layers(masks_a: Sequence[torch.Tensor], masks_b: Sequence[torch.Tensor], name: str) -> None:
    if len(masks_a) != len(masks_b):
        raise ValueError(f"{name}: {len(masks_a)} layers against {len(masks_b)}")
    if not masks_a:
        raise ValueError(f"{name}: no layers")


def on_by_layer(masks_a: Sequence[torch.Tensor], masks_b: Sequence[torch.Tensor]) -> list[float]:
    """ON of each layer: [on_overlap(masks_a[k], masks_b[k]) for each layer k] (lists of per-layer masks)."""
    _check_layers(masks_a, masks_b, "on_by_layer")
    return [on_overlap(a, b) for a, b in zip(masks_a, masks_b)]


def _cat(masks: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([m.reshape(-1).bool() for m in masks])


def on_all(masks_a: Sequence[torch.Tensor], masks_b: Sequence[torch.Tensor]) -> float:
    """ON over all layers at once: the masks of every layer concatenated, then `on_overlap`."""
    _check_layers(masks_a, masks_b, "on_all")
    return on_overlap(_cat(masks_a), _cat(masks_b))


def on_windows(masks_a: Sequence[torch.Tensor], masks_b: Sequence[torch.Tensor], window: int) -> list[float]:
    """ON over consecutive, non-overlapping windows of `window` layers: layers [0, w), [w, 2w), ... (the last
    window may be shorter). The paper reports ON over windows of 3 layers this way."""
    _check_layers(masks_a, masks_b, "on_windows")
    if window < 1:
        raise ValueError(f"on_windows: window {window} must be >= 1")
    return [on_all(masks_a[s:s + window], masks_b[s:s + window]) for s in range(0, len(masks_a), window)]


def thirds(n_layers: int) -> tuple[slice, slice]:
    """(first third, last third) of `n_layers` layers, each max(1, n_layers // 3) layers long."""
    k = max(1, n_layers // 3)
    return slice(0, k), slice(n_layers - k, n_layers)
