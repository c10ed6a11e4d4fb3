"""The run folder: checks before anything is written, its creation, the metrics log, and version stamps."""

from __future__ import annotations

import json
import os
import platform
import shutil
from pathlib import Path
from typing import Any

from ptt import __version__
from ptt.errors import PttError
from ptt.runtime.artifacts import atomic_write_bytes
from ptt.runtime.lock import LOCK_FILE

METRICS = "metrics.jsonl"


def check_run_dir(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse, without writing, to mix two runs in one folder, to resume nothing, or an unwritable folder."""
    holds_run = (run_dir / "config.json").exists()
    if resume and not holds_run:
        raise PttError(f"--resume: {run_dir} holds no run to resume; drop --resume or point --output-dir at a run")
    if holds_run and not (resume or overwrite):
        raise PttError(f"--output-dir {run_dir}: already holds a run; pass --resume to continue it, "
                       "--overwrite to replace it, or another --output-dir")
    existing = next(p for p in [run_dir, *run_dir.absolute().parents] if p.exists())
    if not os.access(existing, os.W_OK):
        raise PttError(f"--output-dir {run_dir}: {existing} is not writable; choose a writable folder")


def clear_run_dir(run_dir: Path) -> None:
    """--overwrite: remove the old run, keeping the lock this process holds."""
    for child in run_dir.iterdir():
        if child.name != LOCK_FILE:
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()


def append_metrics(path: Path, row: dict[str, Any]) -> None:
    """Append one evaluation; rewrite atomically so a crash never leaves half a line."""
    old = path.read_bytes() if path.exists() else b""
    atomic_write_bytes(path, old + (json.dumps(row) + "\n").encode())


def truncate_metrics(path: Path, step: int) -> None:
    """Drop evaluations logged after `step`, so the file reads as one uninterrupted run."""
    if path.exists():
        rows = [line for line in path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
        atomic_write_bytes(path, "".join(r + "\n" for r in rows).encode())


def versions() -> dict[str, str]:
    import datasets
    import deepspeed
    import torch
    import transformers

    return {"ptt": __version__, "torch": torch.__version__, "deepspeed": deepspeed.__version__,
            "transformers": transformers.__version__, "datasets": datasets.__version__,
            "python": platform.python_version()}
