"""The soft prompt, its initializers, and the pure prepend function.

Shapes: L = prompt length, H = hidden size, V = vocabulary size, B = batch, T = tokens.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

VOCAB_TOP_K = 5000


class SoftPrompt(nn.Module):
    """L trainable vectors; forward returns them so that ZeRO-3 gathers the partitioned weight."""

    def __init__(self, init: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(init.detach().clone())  # [L, H]

    def forward(self) -> torch.Tensor:
        return self.weight

    @property
    def length(self) -> int:
        return _shape(self.weight)[0]

    @property
    def hidden_size(self) -> int:
        return _shape(self.weight)[1]


def prepend(prompt: torch.Tensor, embeds: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Put the prompt in front of every sequence.

    Args:
        prompt: [L, H] (one prompt for every row), [B, L, H] (a prompt per row), or [G, L, H] with G dividing B
            (block g of B / G consecutive rows reads prompt g)
        embeds: [B, T, H] token embeddings
        mask: [B, T] attention mask (1 = attend)
    Returns:
        ([B, L+T, H], [B, L+T]); prompt slots are always attended.
    """
    batch = embeds.shape[0]
    p = prompt.to(embeds.dtype)
    if p.dim() == 2:
        p = p.unsqueeze(0).expand(batch, -1, -1)
    elif p.shape[0] != batch:
        if batch % p.shape[0]:
            raise ValueError(f"prepend: {p.shape[0]} prompts for a batch of {batch} rows (not a multiple)")
        p = p.repeat_interleave(batch // p.shape[0], dim=0)
    ones = mask.new_ones(batch, p.shape[1])
    return torch.cat([p, embeds], dim=1), torch.cat([ones, mask], dim=1)


def uniform_init(length: int, hidden: int, generator: torch.Generator, scale: float = 0.5) -> torch.Tensor:
    """[L, H] drawn from U(-scale, scale) (Lester et al. 2021)."""
    return (torch.rand(length, hidden, generator=generator) * 2 - 1) * scale


def vocab_init(
    embedding: torch.Tensor, length: int, generator: torch.Generator, candidates: Sequence[int]
) -> torch.Tensor:
    """[L, H] rows of `embedding` [V, H] sampled (without replacement where possible) from `candidates`."""
    ids = torch.as_tensor(list(candidates))
    pick = torch.randperm(len(ids), generator=generator)
    if length > len(ids):  # more slots than candidates: cycle through a fresh permutation
        pick = pick.repeat((length + len(ids) - 1) // len(ids))
    return embedding[ids[pick[:length]]].float().clone()


def labels_init(
    embedding: torch.Tensor, length: int, generator: torch.Generator, label_ids: Sequence[int], candidates: Sequence[int]
) -> torch.Tensor:
    """[L, H]: the label words' embeddings first, the remaining slots sampled from the vocabulary."""
    head = embedding[torch.as_tensor(list(label_ids))[:length]].float()
    rest = vocab_init(embedding, length - head.shape[0], generator, candidates) if length > head.shape[0] else None
    return head.clone() if rest is None else torch.cat([head, rest], dim=0)


def frequent_token_ids(vocab_size: int, special_ids: Sequence[int], top_k: int = VOCAB_TOP_K) -> list[int]:
    """The first `top_k` non-special ids.

    Sentencepiece and BPE vocabularies are ordered by frequency (merge order), so the lowest ids are
    the most frequent tokens: the pool Lester et al. sample from.
    """
    special = set(special_ids)
    return [i for i in range(vocab_size) if i not in special][:top_k]


def _shape(p: torch.Tensor) -> tuple[int, ...]:
    """Real shape of a possibly ZeRO-3 partitioned parameter (its local shape is [0])."""
    return tuple(getattr(p, "ds_shape", p.shape))
