"""Embedding similarity, the transferability indicators that compare two prompts' vectors directly (Su et al.,
NAACL 2022, section 6): cosine and Euclidean, flattened or token by token. All pure functions.

Shapes: L = prompt length, H = hidden size.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

Matrix = list[list[float]]

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
