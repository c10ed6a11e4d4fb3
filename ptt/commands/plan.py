"""`ptt plan`: per-GPU memory of a prompt-tuning run, from the model config alone (no weights loaded).

The model is instantiated on the meta device to count parameters exactly; memory figures are estimates:
- frozen weights: params x bytes/param, divided by the data-parallel world under ZeRO-3 (none on the GPU with
  --offload);
- prompt + optimizer: L x H x 18 bytes (bf16 weight 2 + fp32 master 4 + Adam moments 8 + fp32 grad 4),
  partitioned under ZeRO-2/3;
- ZeRO-3 working set: the gathered parameters of the largest layer, twice (current + prefetched);
- activations kept for the backward pass through the frozen layers, per transformer layer and token:
  34 x h + 5 x heads x tokens bytes (Korthikanti et al. 2022, 16-bit, no recomputation); with
  --gradient-checkpointing each layer keeps only its input (2 x h bytes per token) and one layer at a time is
  recomputed in full.
"""

from __future__ import annotations

import torch

from ptt.config import PlanConfig
from ptt.families import detect_family
from ptt.families.loading import gguf_architecture, hidden_size, load_config

GIB = 1024**3


def count_parameters(backbone: str) -> tuple[int, int, object, str]:
    """(total parameters, largest single module's parameters, config, family name), built on the meta device
    with the family's own Auto class (so a model's heads are counted as they are loaded)."""
    config = load_config(backbone)
    family = detect_family(config, backbone)
    with torch.device("meta"):
        model = family.load_class().from_config(config)
    total = sum(p.numel() for p in model.parameters())
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    return total, largest, config, family.name


def transformer_shape(config) -> tuple[int, int, int, int]:
    """(hidden, heads, encoder layers, decoder layers) across T5 / BERT-style configs."""
    hidden = hidden_size(config)
    heads = getattr(config, "num_heads", None) or config.num_attention_heads
    enc = getattr(config, "num_layers", None) or config.num_hidden_layers
    dec = getattr(config, "num_decoder_layers", 0) if getattr(config, "is_encoder_decoder", False) else 0
    return hidden, heads, enc, dec


def activation_bytes(hidden: int, heads: int, enc: int, dec: int, tokens: int, checkpointing: bool) -> float:
    """Bytes of activations one example keeps for the backward pass. Encoder (or decoder-only) layers see prompt +
    text; a seq2seq decoder runs one step (rank classification). Checkpointing keeps each layer's 16-bit input and
    recomputes one layer at a time (its full activations, once)."""
    def layer(t: int) -> float:
        return t * (34 * hidden + 5 * heads * t)

    if not checkpointing:
        return enc * layer(tokens) + dec * layer(1)
    return (enc * tokens + dec) * 2 * hidden + layer(tokens)


def plan(inp: PlanConfig) -> dict:
    total, largest, config, family = count_parameters(inp.backbone)
    hidden, heads, enc, dec = transformer_shape(config)
    micro = inp.batch_size // inp.world
    tokens = inp.prompt_length + inp.seq_len
    shard = inp.world if inp.zero == 3 else 1
    weights = 0 if inp.offload else total * inp.bytes_per_param / shard
    prompt = inp.prompt_length * hidden * 18 / (inp.world if inp.zero >= 2 else 1)
    working = 2 * largest * inp.bytes_per_param if inp.zero == 3 else 0
    acts = micro * activation_bytes(hidden, heads, enc, dec, tokens, inp.gradient_checkpointing)
    total_bytes = weights + prompt + working + acts
    return {"backbone": inp.backbone, "family": family, "parameters": total, "world_size": inp.world,
            "micro_batch_per_gpu": micro, "tokens_per_example": tokens,
            "gradient_checkpointing": inp.gradient_checkpointing,
            "per_gpu_gib": {"frozen_weights": weights / GIB, "prompt_and_optimizer": prompt / GIB,
                            "zero3_working_set": working / GIB, "activations": acts / GIB, "total": total_bytes / GIB},
            "gpu_memory_gib": inp.gpu_memory_gib, "fits": total_bytes / GIB <= inp.gpu_memory_gib,
            # transformers builds a GGUF model outside zero.Init: each rank holds it whole in host memory at load
            "gguf_host_gib_per_rank_at_load": total * inp.bytes_per_param / GIB if gguf_architecture(inp.backbone)
            else None}


def render(p: dict) -> str:
    g = p["per_gpu_gib"]
    lines = [f"backbone            {p['backbone']} ({p['family']})",
             f"parameters          {p['parameters']:,} ({p['parameters'] / 1e9:.2f} B)",
             f"GPUs                {p['world_size']} (micro batch {p['micro_batch_per_gpu']} per GPU, "
             f"{p['tokens_per_example']} tokens per example incl. prompt)",
             f"activations         {'recomputed per layer (--gradient-checkpointing)' if p['gradient_checkpointing'] else 'kept for every layer'}",
             "per GPU (GiB)"]
    for key in ("frozen_weights", "prompt_and_optimizer", "zero3_working_set", "activations", "total"):
        lines.append(f"  {key:<22}{g[key]:10.3f}")
    if p["gguf_host_gib_per_rank_at_load"] is not None:
        lines.append(f"GGUF file: each rank dequantizes the whole model in host memory at load "
                     f"({p['gguf_host_gib_per_rank_at_load']:.3f} GiB), then keeps its ZeRO-3 share")
    verdict = "fits" if p["fits"] else "does NOT fit"
    lines.append(f"{verdict} in {p['gpu_memory_gib']:g} GiB per GPU")
    return "\n".join(lines)
