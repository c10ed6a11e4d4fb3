"""Backbone families, one module each, registered in one table.

| family    | module         | HF auto class          | a label is scored by                                          |
|-----------|----------------|------------------------|---------------------------------------------------------------|
| seq2seq   | seq2seq.py     | AutoModelForSeq2SeqLM  | decoder logits of the label words at the first decoding step  |
| masked_lm | masked_lm.py   | AutoModelForMaskedLM   | LM-head logits of the label words at the `<mask>` slot         |
| causal_lm | causal_lm.py   | AutoModelForCausalLM   | LM-head logits of the label words after the last input token  |
| encoder   | encoder.py     | AutoModel              | scaled cosine of the pooled input and each label's pooled text |

`base.py` holds the protocol (`Family`), `loading.py` the loading every family shares. A new family is one
module that builds a `Family` plus one entry in `REGISTRY`.
"""

from __future__ import annotations

from ptt.errors import PttError
from ptt.families import causal_lm, encoder, masked_lm, seq2seq
from ptt.families.base import Family, is_decoder_only

REGISTRY: tuple[Family, ...] = (seq2seq.FAMILY, masked_lm.FAMILY, causal_lm.FAMILY, encoder.FAMILY)
"""Every family, in detection order (the first whose `claims` accepts a config wins; `encoder` is last)."""

FAMILIES: dict[str, Family] = {f.name: f for f in REGISTRY}

__all__ = ["FAMILIES", "REGISTRY", "Family", "detect_family", "get_family", "is_decoder_only", "resolve_family"]


def get_family(name: str, flag: str = "--family") -> Family:
    try:
        return FAMILIES[name]
    except KeyError:
        raise PttError(f"{flag} {name}: unknown family; choose one of {', '.join(FAMILIES)}") from None


def detect_family(config, backbone: str = "") -> Family:
    """The family a checkpoint belongs to: the first in REGISTRY whose `claims` accepts its config."""
    return next(f for f in REGISTRY if f.claims(config))


def resolve_family(config, name: str | None, backbone: str = "") -> Family:
    """--family if given, else detected from the config."""
    return get_family(name) if name else detect_family(config, backbone)
