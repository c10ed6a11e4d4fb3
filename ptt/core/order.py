"""Deterministic data order: an endless stream of seeded epoch permutations, cut into global batches.

A pure function of (dataset size, seed, step[, lengths]) so that a resumed run, or a run on another
number of ranks, sees exactly the examples an uninterrupted single-rank run would.

Length grouping (`--batch-order grouped`, the default) regroups the random stream one window of
`GROUP_WINDOW` consecutive global batches at a time: the window's examples are sorted by length (per
epoch), cut into batches of similar length, and those batches are shuffled within the window. Every
window holds exactly the examples the random stream puts there, so epochs still visit every example
once (up to one window's reordering across an epoch boundary), and the stream is still a pure function
of the seed. Dynamic padding then pads each batch to a width close to its rows' own lengths.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import torch

GROUP_WINDOW = 50
"""Global batches regrouped together (as transformers' LengthGroupedSampler's megabatches of 50)."""


@lru_cache(maxsize=4)  # one permutation serves every step of an epoch (randperm of 400k ids costs ~30 ms)
def _permutation(n: int, seed: int, epoch: int) -> tuple[int, ...]:
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return tuple(torch.randperm(n, generator=g).tolist())


def epoch_permutation(n: int, seed: int, epoch: int) -> list[int]:
    return list(_permutation(n, seed, epoch))


def stream_slice(n: int, seed: int, start: int, count: int) -> list[int]:
    """`count` consecutive indices of the random stream, from stream position `start`."""
    out: list[int] = []
    while len(out) < count:
        epoch, offset = divmod(start + len(out), n)
        perm = _permutation(n, seed, epoch)
        out.extend(perm[offset : offset + count - len(out)])
    return out


def global_batch(n: int, seed: int, step: int, batch_size: int, lengths: Sequence[int] | None = None) -> list[int]:
    """Indices of the `step`-th (0-based) global batch of `batch_size` examples.

    With `lengths` (one per example), the batch comes from the length-grouped stream; without, from
    the random stream.
    """
    if lengths is None:
        return stream_slice(n, seed, step * batch_size, batch_size)
    if len(lengths) != n:
        raise ValueError(f"{len(lengths)} lengths for {n} examples")
    window, slot = divmod(step, GROUP_WINDOW)
    key = (n, seed, window, batch_size)
    if _last_window[0] != key or _last_window[1] is not lengths:  # a window serves GROUP_WINDOW steps
        _last_window[:] = [key, lengths, grouped_window(n, seed, window, batch_size, lengths)]
    return list(_last_window[2][slot])


_last_window: list = [None, None, None]


def grouped_window(n: int, seed: int, window: int, batch_size: int,
                   lengths: Sequence[int]) -> list[tuple[int, ...]]:
    """The window's GROUP_WINDOW batches: its stream indices sorted longest first within each epoch's part
    of the window (ties keep stream order), cut into batches, the batches in a seeded random order.

    Sorting per epoch keeps an example's two visits (a window can span epochs, several on a small data
    set) out of one batch; only the batch that straddles an epoch boundary mixes two parts.
    """
    size, start = GROUP_WINDOW * batch_size, window * GROUP_WINDOW * batch_size
    stream = stream_slice(n, seed, start, size)
    idx = [stream[j] for j in sorted(range(size), key=lambda j: ((start + j) // n, -lengths[stream[j]]))]
    batches = [tuple(idx[k : k + batch_size]) for k in range(0, size, batch_size)]
    g = torch.Generator().manual_seed(seed * 1_000_003 + 999_983 * (window + 1))
    return [batches[k] for k in torch.randperm(GROUP_WINDOW, generator=g).tolist()]


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


def by_length(indices: Sequence[int], lengths: Sequence[int]) -> list[int]:
    """`indices` longest first (ties in the given order): evaluation batches of similar widths."""
    return sorted(indices, key=lambda i: -lengths[i])
