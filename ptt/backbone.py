"""The frozen backbone a job builds, and the prompted model around it.

`open_backbone` checks everything about a backbone that can be wrong before any process group or weight
exists, then starts the process group and loads the frozen weights (partitioned at load time under ZeRO-3).
`PromptModel` puts a prompt in front of the input embeddings and hands the batch to the family's scorer.
Scoring (`ptt.scoring`) and training (`ptt.training`) both build on these two.

Shapes: B = batch, T = tokens, L = prompt length, H = hidden size, C = classes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ptt.core.prompt import frequent_token_ids, labels_init, prepend, uniform_init, vocab_init
from ptt.core.tasks import TaskSpec
from ptt.errors import PttError
from ptt.families import resolve_family
from ptt.families.base import Family, label_token_ids
from ptt.families.loading import (gguf_architecture, hidden_size, load_config, load_frozen, load_tokenizer, local_path,
                                  locate, max_positions)
from ptt.runtime import dist, zero
from ptt.runtime.artifacts import prompt_meta
from ptt.runtime.deepspeed import default_ds_config, load_ds_config, resolve_ds_config, resolve_precision, zero_stage


@dataclass
class Frozen:
    """A frozen backbone and what loading it decided (set once, never changed)."""

    name: str
    config: Any
    family: Family
    tokenizer: Any
    module: nn.Module | None
    precision: str
    ds_config: dict[str, Any]
    zero_ref: Any = None  # keeps transformers' weak reference alive while ZeRO-3 builds the model

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.precision == "bf16" else torch.float32

    @property
    def hidden(self) -> int:
        return hidden_size(self.config)

    def facts(self) -> dict[str, Any]:
        out = {"hidden_size": self.hidden, "model_type": self.config.model_type,
               "max_positions": max_positions(self.config),
               "zero_stage": zero_stage(self.ds_config)}
        file = locate(self.name).file
        if file is not None:  # what a GGUF backbone was read from, and by which reader
            from importlib.metadata import version

            out["gguf"] = {"file": str(file), "bytes": file.stat().st_size,
                           "architecture": gguf_architecture(self.name), "gguf_version": version("gguf"),
                           "dequantized_to": self.precision}
        return out


def resolve_backbone(name: str, family: str | None, *, prompt_length: int, max_length: int, precision: str,
                     ds_config: str | None, ds_batch: dict[str, Any]) -> Frozen:
    """Everything about the backbone that can be wrong, checked without a process group or any weight:
    config, family, positions, ds_config and precision, tokenizer. ds_batch: the values that fill the ds_config's
    "auto" batch and clipping fields (`TrainConfig.ds_batch`)."""
    quiet_libraries()
    config = load_config(name)
    fam = resolve_family(config, family, name)
    limit = max_positions(config)
    if limit is not None and prompt_length + max_length > limit:
        raise PttError(f"--prompt-length {prompt_length}: with --max-length {max_length} the input needs "
                       f"{prompt_length + max_length} positions but {name} has {limit}; "
                       f"lower --prompt-length or --max-length so they sum to at most {limit}")
    raw = load_ds_config(ds_config or default_ds_config(dist.device(), dist.world_size()))
    prec = resolve_precision(precision, raw, dist.device())
    ds = resolve_ds_config(raw, **ds_batch, precision=prec)
    return Frozen(name, config, fam, load_tokenizer(name), None, prec, ds)


def load_weights(frozen: Frozen, seed: int) -> Frozen:
    """Start the process group, seed, and load the frozen weights (built under `deepspeed.zero.Init` for ZeRO-3)."""
    dist.init()
    torch.manual_seed(seed)
    frozen.zero_ref = zero.build_context(frozen.ds_config)
    frozen.module = zero.partition(load_frozen(frozen.name, frozen.family.load_class(), frozen.dtype),
                                   frozen.ds_config)
    return frozen


def checkpointing_problem(config, family: Family) -> str | None:
    """Why activation checkpointing cannot run on this backbone (None: it can). ptt checkpoints through
    transformers' own mechanism, its `GradientCheckpointingLayer`s, so the model class must have them and declare
    support; checked on a weightless meta-device copy."""
    from transformers.modeling_layers import GradientCheckpointingLayer

    with torch.device("meta"):
        model = family.load_class().from_config(config)
    if not model.supports_gradient_checkpointing:
        return f"{type(model).__name__} does not support gradient checkpointing in transformers"
    if not any(isinstance(m, GradientCheckpointingLayer) for m in model.modules()):
        return f"{type(model).__name__} has no checkpointable layers (transformers GradientCheckpointingLayer)"
    return None


def enable_checkpointing(backbone: nn.Module) -> list[nn.Module]:
    """Re-entrant activation checkpointing of every transformer layer of a frozen backbone; returns the layers.

    Re-entrant checkpointing (the mode ZeRO-3 supports with frozen weights in every DeepSpeed release) passes a
    gradient back through a layer only if one of its positional inputs requires one. A frozen model's embeddings do
    not, which is why LoRA-style tuning calls `enable_input_require_grads`; in prompt tuning the prompt is part of
    every layer's hidden states (and of a T5 decoder's positional cross-attention input), so no such hook is needed:
    the tests check that the prompt's gradient is unchanged for every family. transformers checkpoints only layers
    in training mode: `PromptModel.train` switches exactly these layers (not their dropout children) on.
    """
    from transformers.modeling_layers import GradientCheckpointingLayer

    enable = getattr(backbone, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": True})
    else:  # transformers before the rename
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    return [m for m in backbone.modules() if isinstance(m, GradientCheckpointingLayer)]


def made_prompt_meta(backbone: str, *, max_length: int, init: dict[str, Any], task: str | None = None) -> dict:
    """prompt.json fields of a prompt made for `backbone` rather than trained on it (an averaged or recycled start):
    step 0, no metrics, `init` saying what it was made of."""
    config = load_config(backbone)
    return prompt_meta(backbone=backbone, backbone_path=local_path(backbone),
                       family=resolve_family(config, None, backbone).name, task=task, step=0, metrics={}, init=init,
                       max_length=max_length, model_type=config.model_type)


def quiet_libraries() -> None:
    """DeepSpeed and transformers log at INFO per rank; keep the console for ptt's own lines."""
    from deepspeed.utils import logger as ds_logger
    from transformers.utils import logging as hf_logging

    ds_logger.setLevel(logging.WARNING)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def initial_prompt(frozen: Frozen, init: str, length: int, seed: int, task: TaskSpec) -> tuple[torch.Tensor, dict]:
    """[L, H] starting prompt (fp32), and a record of where it came from (written into the run folder).
    Every rank calls it: under ZeRO-3 the embedding matrix is all-gathered for the vocab and labels inits."""
    g = torch.Generator().manual_seed(seed)
    if init == "uniform":
        return uniform_init(length, frozen.hidden, g), {"init": "uniform", "range": 0.5}
    emb = frozen.module.get_input_embeddings().weight
    pool = frequent_token_ids(getattr(emb, "ds_shape", emb.shape)[0], frozen.tokenizer.all_special_ids)
    with zero.gathered([emb]):
        if init == "vocab":
            return vocab_init(emb, length, g, pool), {"init": "vocab", "pool": len(pool)}
        ids = label_token_ids(frozen.tokenizer, task.words_for(frozen.family))
        return labels_init(emb, length, g, ids, pool), {"init": "labels", "label_ids": ids}


class PromptModel(nn.Module):
    """A frozen backbone, an optional prompt module, and the family's scorer.

    forward(...) -> class scores [B, C]; the training loss is cross-entropy over them, so training and
    evaluation rank the same label words.

    Args:
        backbone: frozen HF model of `family`.
        family: the backbone's `Family`.
        prompt: a module whose forward() returns the prompt [L, H] (the trainable SoftPrompt, or a projector
            applied to a source prompt), or one marked `input_dependent` whose forward(embeds, mask) returns a
            prompt per input [B, L, H] (an attention mixture), or None for a model that only scores prompts passed
            to forward.
        checkpointing: recompute the backbone's layer activations in the backward pass (`enable_checkpointing`).
    """

    def __init__(self, backbone: nn.Module, family: Family, prompt: nn.Module | None = None,
                 checkpointing: bool = False):
        super().__init__()
        self.backbone = backbone
        self.family = family
        self.prompt = prompt
        self._checkpointed = enable_checkpointing(backbone) if checkpointing else []
        self.train(self.training)

    def train(self, mode: bool = True):
        """The engine may switch the wrapper to train mode; the backbone stays in eval (no dropout), except for the
        checkpointed layers' own flag, which transformers reads to decide whether to recompute them."""
        super().train(mode)
        self.backbone.eval()
        for layer in self._checkpointed:
            layer.training = mode
        return self

    def forward(self, input_ids, attention_mask, labels=None, prompt: torch.Tensor | None = None,
                use_prompt: bool = True, target_ids=None, target_mask=None, **extras) -> torch.Tensor:
        """input_ids, attention_mask [B, T]; labels: the task's LabelSpec (classification: returns class scores
        [B, C]); target_ids, target_mask [B, N] (generation: returns the mean loss over target tokens). prompt:
        [L, H] to score instead of the model's own prompt module, or [G, L, H], G dividing B: block g of B / G
        consecutive rows reads prompt g; use_prompt False runs the bare backbone. extras: the family's row extras.
        The family is told how many distinct prompts the rows read (`groups`), so that one that can compute a
        shared prompt once per batch does; while checkpointed layers recompute (training with checkpointing) every
        row counts as its own, since a recomputed layer would write a shared prompt's cache twice."""
        embeds, attention_mask, p = self.with_prompt(input_ids, attention_mask, prompt, use_prompt)
        groups = 0 if p is None else embeds.shape[0] if self._checkpointed and self.training else \
            1 if p.dim() == 2 else p.shape[0]
        n_prompt = 0 if p is None else p.shape[-2]
        if target_ids is not None:
            return self.family.lm_loss(self.backbone, embeds, attention_mask, n_prompt, target_ids, target_mask,
                                       groups=groups)
        return self.family.score(self.backbone, embeds, attention_mask, n_prompt, labels, groups=groups, **extras)

    def with_prompt(self, input_ids, attention_mask, prompt: torch.Tensor | None = None, use_prompt: bool = True):
        """(input embeddings with the prompt in front [B, L+T, H], their mask [B, L+T], the prompt read: `prompt`,
        else the model's own ([L, H], or [B, L, H] from a module computed per input); None with use_prompt False)."""
        embeds = self.backbone.get_input_embeddings()(input_ids)
        if not use_prompt:
            return embeds, attention_mask, None
        if prompt is not None:
            p = prompt
        elif getattr(self.prompt, "input_dependent", False):  # a prompt per input (e.g. an attention mixture)
            p = self.prompt(embeds, attention_mask)
        else:
            p = self.prompt()
        embeds, attention_mask = prepend(p, embeds, attention_mask)
        return embeds, attention_mask, p

    def prompted(self, input_ids, attention_mask, prompt: torch.Tensor | None = None, use_prompt: bool = True):
        """(input embeddings with the prompt in front [B, L+T, H], their mask [B, L+T], L)."""
        embeds, attention_mask, p = self.with_prompt(input_ids, attention_mask, prompt, use_prompt)
        return embeds, attention_mask, 0 if p is None else p.shape[-2]
