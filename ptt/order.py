"""Deterministic data order: an endless stream of seeded epoch permutations, cut into global batches.

A pure function of (dataset size, seed, step) so that a resumed run, or a run on another number of
ranks, sees exactly the examples an uninterrupted single-rank run would.
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=4)  # one permutation serves every step of an epoch (randperm of 400k ids costs ~30 ms)
def _permutation(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return tuple(torch.randperm(n, generator=g).tolist())


def epoch_permutation(n: int, seed: int, epoch: int) -> list[int]:
    return list(_permutation(n, seed, epoch))


def global_batch(n: int, seed: int, step: int, batch_size: int) -> list[int]:
    """Indices of the `step`-th (0-based) global batch of `batch_size` examples."""
    start = step * batch_size
    out: list[int] = []
    while len(out) < batch_size:
        epoch, offset = divmod(start + len(out), n)
        perm = _permutation(n, seed, epoch)
        out.extend(perm[offset : offset + batch_size - len(out)])
    return out


def rank_micro_batches(indices: list[int], rank: int, world: int, micro: int) -> list[list[int]]:
    """This rank's micro-batches of a global batch: rank r takes the r-th contiguous share."""
    share = len(indices) // world
    mine = indices[rank * share : (rank + 1) * share]
    return [mine[i : i + micro] for i in range(0, len(mine), micro)]


def eval_shard(n: int, rank: int, world: int) -> list[int]:
    """Rank r's evaluation indices; every rank gets the same count (padded by repeats, marked later)."""
    per_rank = (n + world - 1) // world
    idx = list(range(rank, n, world))
    return idx + idx[-1:] * (per_rank - len(idx)) if idx else [0] * per_rank
