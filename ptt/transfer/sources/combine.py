"""Combining prompts of one shape into one: the (weighted) mean, and the mean of a ranking's top k (the `avg:K`
start). The attention mixture, which combines per input, lives in `mixture`."""

from __future__ import annotations

from typing import Any, Sequence

import torch

from ptt.errors import PttError
from ptt.runtime.artifacts import load_prompt


def average_prompts(prompts: Sequence[torch.Tensor], weights: Sequence[float] | None = None) -> torch.Tensor:
    """The (weighted) mean of prompts [L, H] of one shape, in fp32; weights are normalised to sum to 1."""
    if not prompts:
        raise ValueError("average_prompts: no prompts")
    shapes = {tuple(p.shape) for p in prompts}
    if len(shapes) != 1:
        raise ValueError(f"average_prompts: prompts of shapes {sorted(shapes)}; average prompts of one shape")
    w = torch.tensor(list(weights) if weights is not None else [1.0] * len(prompts), dtype=torch.float32)
    if len(w) != len(prompts) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"average_prompts: weights {w.tolist()} for {len(prompts)} prompts; give non-negative weights")
    stacked = torch.stack([p.float() for p in prompts])
    return torch.einsum("k,klh->lh", w / w.sum(), stacked)


def average_top(selection: dict[str, Any], k: int, flag: str = "--init-from") -> tuple[Any, dict[str, Any]]:
    """The mean of the top-k ranked prompts (equal weights) and what it was made of: (tensor [L, H], info)."""
    ranking = selection["ranking"]
    if k > len(ranking):
        raise PttError(f"{flag} avg:{k}: the library has {len(ranking)} usable source prompt(s) for "
                       f"{selection['task']}; use k <= {len(ranking)}")
    top = ranking[:k]
    tensors = [load_prompt(r["path"], flag=flag)[0] for r in top]
    weights = [1.0 / k] * k
    info = {"init": "average", "k": k, "rank_by": selection["rank_by"],
            "sources": [{"path": r["path"], "task": r["task"], "sha256": r["sha256"], "weight": w,
                         selection["rank_by"]: r[selection["rank_by"]]} for r, w in zip(top, weights)]}
    return average_prompts(tensors, weights), info
