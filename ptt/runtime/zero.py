"""ZeRO-3 helpers: every read or write of a partitioned parameter goes through one of these.

Under ZeRO-3 a partitioned parameter has local shape [0] (its real shape is `ds_shape`); reading it needs
a gather entered on every rank, and saving it needs the fp32 master copy, never the local shard.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterable, Sequence

import torch
from torch import nn

from ptt.runtime.deepspeed import zero_stage


def gathered(params: Sequence[nn.Parameter]):
    """Context in which ZeRO-3 partitioned `params` hold their full value on every rank (read-only).

    Must be entered on every rank. Outside ZeRO-3 it does nothing.
    """
    if any(hasattr(p, "ds_id") for p in params):
        import deepspeed

        return deepspeed.zero.GatheredParameters(list(params), modifier_rank=None)
    return contextlib.nullcontext()


def full_fp32(named: Iterable[tuple[str, nn.Parameter]]) -> dict[str, torch.Tensor]:
    """{name: the whole fp32 value} of trainable parameters, never a ZeRO shard (collective under ZeRO).

    DeepSpeed keeps the fp32 master copy in its optimizer; outside an engine the parameter itself is read.
    """
    from deepspeed.utils import safe_get_full_fp32_param

    out = {}
    for name, p in named:
        full = safe_get_full_fp32_param(p)
        out[name] = (full if full is not None else p.detach()).float().cpu().clone()
    return out


def build_context(ds: dict[str, Any]):
    """A live `HfDeepSpeedConfig` under ZeRO-3 (else None): while it is referenced, `from_pretrained` builds
    the model inside `deepspeed.zero.Init`, so no rank materialises the whole model. Keep it alive."""
    if zero_stage(ds) != 3:
        return None
    from transformers.integrations.deepspeed import HfDeepSpeedConfig

    return HfDeepSpeedConfig(ds)


def partition(module: nn.Module, ds: dict[str, Any]) -> nn.Module:
    """Partition a model that was built outside `deepspeed.zero.Init` (transformers builds GGUF-loaded models that
    way) as soon as it is loaded under ZeRO-3, so that it never moves to the accelerator whole."""
    if zero_stage(ds) == 3 and not all(hasattr(p, "ds_id") for p in module.parameters()):
        import deepspeed

        deepspeed.zero.Init(module=module, config_dict_or_path=ds)
    return module


def release_context() -> None:
    """Drop transformers' global ZeRO-3 flag so the process can build another model."""
    from transformers.integrations.deepspeed import unset_hf_deepspeed_config

    unset_hf_deepspeed_config()
