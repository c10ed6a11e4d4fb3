"""Helpers shared by the test modules (no test module imports another): paths, the child-process environment,
the real `ptt` and `deepspeed` entry points, the one-line-error check, and the small configs and artifacts
many tests start from."""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from ptt.cli import main
from ptt.config import TrainConfig
from ptt.errors import PttError
from ptt.runtime.artifacts import save_prompt
from ptt.runtime.zero import gathered

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).resolve().parents[1]
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
    local = Path(sys.executable).parent / "deepspeed"
    found = str(local) if local.is_file() else shutil.which("deepspeed")
    assert found, (f"the deepspeed launcher script is missing: not at {local} nor on PATH; "
                   "install deepspeed into this interpreter (pip install -e .)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def invoke(*args: str):
    """`ptt ARGS` in this process through click's runner."""
    return CliRunner().invoke(main, list(args))


def assert_clean_error(result, *needles: str) -> None:
    """Exit 2, no traceback, and a last line `Error: ...` holding every needle."""
    lines = [ln for ln in result.output.splitlines() if ln.strip() and "[WARNING]" not in ln]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert lines and lines[-1].startswith("Error: "), result.output
    for needle in needles:
        assert needle in lines[-1], (needle, lines[-1])


def tiny_cfg(backbone: str, out, **kw) -> TrainConfig:
    """A few-step fp32 training config on a tiny backbone (every field overridable)."""
    base = dict(backbone=backbone, task="sst2", prompt_length=4, max_length=24, max_steps=4, eval_every=2,
                batch_size=4, max_train_examples=64, max_eval_examples=16, eval_batch_size=8, lr=0.1,
                output_dir=str(out), log_every=1, precision="fp32", ds_config="zero3_bf16")
    return TrainConfig(**{**base, **kw})


def backbone_snapshot(model) -> dict[str, torch.Tensor]:
    """Every backbone parameter, gathered from its ZeRO-3 partitions and copied."""
    params = list(model.backbone.parameters())
    with gathered(params):
        return {n: p.detach().clone() for n, p in model.backbone.named_parameters()}


def fake_prompt(path, backbone, task, length=4, hidden=48, seed=0, family="masked_lm"):
    """A prompt artifact of `backbone` (its values random: what matters here is its backbone and shape)."""
    g = torch.Generator().manual_seed(seed)
    save_prompt(path, torch.randn(length, hidden, generator=g) * 0.5,
                {"backbone": backbone, "backbone_path": backbone, "family": family, "task": task, "step": 0,
                 "metrics": {}, "max_length": 24})
    return str(path)


def fields_of(cfg, cls) -> dict:
    """cfg's values of the fields `cls` has (the shared settings a job config takes over from a TrainConfig)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k in names}


def raises_ptt(func, *args, needles=(), **kwargs):
    """Call func, expect a one-line PttError (exit code 2) whose message contains every needle."""
    with pytest.raises(PttError) as info:
        func(*args, **kwargs)
    message = info.value.format_message()
    assert info.value.exit_code == 2
    assert "\n" not in message
    for needle in needles:
        assert str(needle) in message, f"{needle!r} not in {message!r}"
    return message
