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


DIST_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
             "CROSS_RANK", "CROSS_SIZE")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the rendezvous variables an in-process run set (a child must
    not join, or collide with, this process's process group), plus `extra`."""
    return {**{k: v for k, v in os.environ.items() if k not in DIST_VARS}, **extra}


def run_ptt(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """The real `ptt` console script in a subprocess."""
    return subprocess.run(["ptt", *args], capture_output=True, text=True, timeout=timeout, env=clean_env(**(env or {})))


def deepspeed_launcher() -> str:
    """The `deepspeed` launcher script of the interpreter running the tests (else the one on PATH); a missing
    launcher fails the test: the launched runs are part of what must pass."""
    import shutil
    import sys

    local = Path(sys.executable).parent / "deepspeed"
    found = str(local) if local.is_file() else shutil.which("deepspeed")
    assert found, (f"the deepspeed launcher script is missing: not at {local} nor on PATH; "
                   "install deepspeed into this interpreter (pip install -e .)")
    return found
