"""Backbone families, one module each, registered in one table.

| family    | module         | HF auto class          | a label is scored by                                          |
|-----------|----------------|------------------------|---------------------------------------------------------------|
| seq2seq   | seq2seq.py     | AutoModelForSeq2SeqLM  | decoder logits of the label words at the first decoding step  |
| masked_lm | masked_lm.py   | AutoModelForMaskedLM   | LM-head logits of the label words at the `<mask>` slot         |
| encoder   | encoder.py     | AutoModel              | scaled cosine of the pooled input and each label's pooled text |

`base.py` holds the protocol (`Family`), `loading.py` the loading every family shares. A new family is one
module that builds a `Family` plus one entry in `REGISTRY`.
"""

from __future__ import annotations

from ptt.errors import PttError
from ptt.families import encoder, masked_lm, seq2seq
from ptt.families.base import Family

REGISTRY: tuple[Family, ...] = (seq2seq.FAMILY, masked_lm.FAMILY, encoder.FAMILY)
"""Every family, in detection order (the first whose `claims` accepts a config wins; `encoder` is last)."""

FAMILIES: dict[str, Family] = {f.name: f for f in REGISTRY}


def get_family(name: str, flag: str = "--family") -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise PttError(f"{flag} {name}: unknown family; choose one of {', '.join(FAMILIES)}") from None


def is_decoder_only(config) -> bool:
    """A causal LM with no encoder (GPT-2, Llama, Qwen, Mistral, ...): by its architectures or, for a config
    that names none, by transformers' Auto tables (a causal-LM type with no masked-LM or seq2seq model)."""
    if getattr(config, "is_encoder_decoder", False):
        return False
    archs = config.architectures or []
    if archs:
        return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs) and \
            not any(a.endswith("ForMaskedLM") for a in archs)
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    kind = config.model_type
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def detect_family(config, backbone: str = "") -> Family:
    """The family a checkpoint belongs to; a decoder-only LM is refused (no family serves it yet)."""
    if is_decoder_only(config):
        arch = ", ".join(config.architectures or []) or config.model_type
        raise PttError(f"--backbone {backbone or config.model_type}: {arch} is a decoder-only LM, which ptt has no "
                       f"family for yet; use an encoder-decoder (T5), masked-LM (RoBERTa) or encoder backbone")
    return next(f for f in REGISTRY if f.claims(config))


def resolve_family(config, name: str | None, backbone: str = "") -> Family:
    """--family if given, else detected from the config."""
    return get_family(name) if name else detect_family(config, backbone)
