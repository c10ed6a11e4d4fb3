"""Shared fixtures: tiny T5 / RoBERTa / BERT models built from config with real tokenizer files,
saved to a temporary folder and loaded back by ptt's own loading code. Nothing touches a hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def build_tiny(kind: str, out: Path) -> Path:
    """Save a tiny random `kind` model and its (real) tokenizer under `out` (ptt's one tiny-backbone builder)."""
    from ptt.tiny import build

    return build(kind, out)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {k: str(build_tiny(k, root / k)) for k in ("t5", "roberta", "bert", "bert_mlm")}


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory) -> dict[str, str]:
    """Tiny GPT-2- and Llama-shaped causal LMs (the RoBERTa BPE files serve their tokenizer), saved as folders."""
    root = tmp_path_factory.mktemp("causal")
    return {k: str(build_tiny(k, root / k)) for k in ("gpt2", "llama")}


@pytest.fixture(scope="module")
def causal(tiny_causal) -> dict[str, str]:
    """The tiny causal LMs under the name the decoder-only tests use."""
    return tiny_causal
