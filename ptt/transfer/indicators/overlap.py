"""ON, the overlap of the feed-forward neurons two prompts activate (Su et al., NAACL 2022, section 6): the pure
overlap math over boolean masks, and the probe that records which neurons a prompt activates in the frozen backbone.

The family says where to look (`Family.ffn_sites`, by model type) and what to feed (`Family.probe`: the prompt
plus one token, and the positions recorded). Forward hooks keep each FFN site's output, binarized at > 0.

Shapes: L = prompt length, H = hidden size, F = feed-forward size, P = recorded positions.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from ptt.core.encode import collate
from ptt.errors import PttError


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


def _resolve(root: nn.Module, dotted: str) -> nn.Module:
    mod = root
    for part in dotted.split("."):
        mod = mod[int(part)] if part.lstrip("-").isdigit() else getattr(mod, part)
    return mod


def ffn_modules(backbone: nn.Module, family) -> list[tuple[str, str, nn.Module]]:
    """(qualified name under base_model, part, module) of every FFN activation site, in layer order.

    Model types the family has no sites for are refused with the list of supported ones.
    """
    model_type = backbone.config.model_type
    if model_type not in family.ffn_sites:
        raise PttError(f"activated-neuron indicators: model type {model_type!r} has no FFN sites in the "
                       f"{family.name} family; supported: {', '.join(family.ffn_sites)}")
    base = backbone.base_model
    names = {id(m): n for n, m in base.named_modules()}
    out = []
    for site in family.ffn_sites[model_type]:
        for layer in _resolve(base, site.stack):
            module = _resolve(layer, site.module)
            out.append((names[id(module)], site.part, module))
    return out


def activation_masks(scorer, prompts: Sequence[torch.Tensor]) -> list[list[torch.Tensor]]:
    """Which FFN neurons each prompt activates in the scorer's frozen backbone (every rank calls this).

    Each prompt plus one token (the family's probe) runs through the scorer's forward, all prompts in one batch
    (the probe row repeated, a prompt per row); forward hooks keep the first call's output of each FFN site,
    binarized at > 0 at the recorded positions. Under ZeRO-3 this works unchanged: DeepSpeed's module hooks gather
    each partitioned weight before its module runs, and activations are never partitioned, so the hooks see the
    full [B, T, F] outputs on every rank.

    Args:
        scorer: a `ptt.scoring.Scorer` (or a trainer's scorer).
        prompts: tensors [L, H] of the scorer's hidden size and one length.
    Returns:
        Per prompt, one bool tensor [P, F] per FFN layer, in layer order (T5: encoder layers, then decoder layers).
    """
    frozen = scorer.frozen
    for prompt in prompts:
        if prompt.dim() != 2 or prompt.shape[1] != frozen.hidden:
            raise PttError(f"--prompts: a prompt of shape {tuple(prompt.shape)} for a backbone of hidden size "
                           f"{frozen.hidden}; compare prompts of one backbone")
    sites = ffn_modules(scorer.model.backbone, frozen.family)
    probe = frozen.family.probe(frozen.tokenizer, scorer.data.max_length, prompts[0].shape[0])
    batch = collate([{**probe.row, "label": 0}] * len(prompts), frozen.tokenizer.pad_token_id)
    captured: list[torch.Tensor | None] = [None] * len(sites)

    def keep(i: int):
        def hook(_module, _args, output):
            if captured[i] is None:  # first call only: the encoder family encodes its label texts after
                captured[i] = output.detach()
        return hook

    handles = [module.register_forward_hook(keep(i)) for i, (_, _, module) in enumerate(sites)]
    try:
        with torch.no_grad():
            scorer.scores(batch, probe.labels.to(scorer.device), torch.stack(list(prompts)))
    finally:
        for h in handles:
            h.remove()
    for (name, _, _), out in zip(sites, captured):
        if out is None:
            raise RuntimeError(f"activation_masks: no activation was recorded at {name}")
    return [[(out[k, probe.positions[part]] > 0).cpu() for (_, part, _), out in zip(sites, captured)]
            for k in range(len(prompts))]
