"""Which feed-forward neurons a prompt activates in the frozen backbone (the input of the ON indicators).

The family says where to look (`Family.ffn_sites`, by model type) and what to feed (`Family.probe`: the prompt
plus one token, and the positions recorded). Forward hooks keep each FFN site's output, binarized at > 0.

Shapes: L = prompt length, H = hidden size, F = feed-forward size, P = recorded positions.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from ptt.core.encode import collate
from ptt.errors import PttError
from ptt.transfer.similarity import INDICATORS, Matrix, on_all, similarity_matrix, thirds


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
