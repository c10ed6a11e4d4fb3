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


KINDS = {"train": "a prompt training run (ptt train)", "projector": "a projector fit (ptt transfer project fit)"}
"""What a run folder's config.json says it holds ("kind"); a config.json with a "train" entry and no kind was
written by `ptt train` before kinds were recorded."""


def run_kind(run_dir: Path) -> str | None:
    """The kind of run `run_dir` holds: a key of KINDS, "other" for a config.json that is no ptt run's (a model
    folder's, say), None when there is no config.json."""
    path = run_dir / "config.json"
    if not path.is_file():
        return None
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return "train"  # a damaged run's config: resuming it says so, in the resume's own words
    if not isinstance(config, dict):
        return "other"
    kind = config.get("kind", "train" if "train" in config else "other")
    return kind if isinstance(kind, str) and kind in KINDS else "other"


def check_run_dir(run_dir: Path, resume: bool, overwrite: bool, kind: str = "train", resumable: bool = True) -> None:
    """Refuse, without writing, to mix two runs in one folder, to resume nothing, to resume or replace a run of
    another kind (or a folder whose config.json is no ptt run's), or an unwritable folder. `resumable`: whether the
    job offers --resume at all (the fix a refusal suggests)."""
    found = run_kind(run_dir)
    if resume and found is None:
        raise PttError(f"--resume: {run_dir} holds no run to resume; drop --resume or point --output-dir at a run")
    if found not in (None, kind):
        held = KINDS.get(found, "a config.json that is not a ptt run's")
        flags = "neither --resume nor --overwrite applies" if resumable else "--overwrite does not apply"
        raise PttError(f"--output-dir {run_dir}: holds {held}, not {KINDS[kind]}; {flags} to it; choose another "
                       "--output-dir")
    if found and not (resume or overwrite):
        fixes = "pass --resume to continue it, --overwrite to replace it," if resumable else \
            "pass --overwrite to replace it,"
        raise PttError(f"--output-dir {run_dir}: already holds {KINDS[kind]}; {fixes} or choose another --output-dir")
    existing = next(p for p in [run_dir, *run_dir.absolute().parents] if p.exists())
    if not os.access(existing, os.W_OK):
        raise PttError(f"--output-dir {run_dir}: {existing} is not writable; choose a writable folder")


def clear_run_dir(run_dir: Path, names: tuple[str, ...]) -> None:
    """--overwrite: remove the old run's entries (`names`, what that kind of run writes); anything else stays, the
    lock this process holds included."""
    for child in run_dir.iterdir():
        if child.name in names and child.name != LOCK_FILE:
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
