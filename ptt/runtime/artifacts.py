"""Prompt artifacts (`prompt.safetensors` + `prompt.json`) and atomic writes; resume state is `resume.py`.

Every write goes to a temporary name, is fsynced, then renamed, so a reader never sees half a file.
The json carries a sha256 of the tensor bytes, checked on load.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from ptt.errors import PttError
from ptt.runtime.faults import maybe_fail

TENSOR_FILE = "prompt.safetensors"
META_FILE = "prompt.json"
MIXTURE_META = "mixture.json"  # an attention-mixture artifact (see ptt.transfer.sources.mixture)
TENSOR_KEY = "prompt"
PROMPT_FORMAT = "ptt-prompt-v1"


def prompt_meta(*, backbone: str, backbone_path: str | None, family: str | None, task: str | None, step: int | None,
                metrics: dict[str, float], init: Any, max_length: int, model_type: str | None,
                **extra: Any) -> dict[str, Any]:
    """The prompt.json fields of a plain prompt, every one named (`save_prompt` adds length, hidden size and the
    checksum): the backbone it fits and how to find it, the task and step it was trained for (None: made, not
    trained), its metrics, what it started from, the text length it was scored with; `extra`: e.g. the seed."""
    return {"backbone": backbone, "backbone_path": backbone_path, "family": family, "task": task, "step": step,
            "metrics": metrics, "init": init, "max_length": max_length, "model_type": model_type, **extra,
            "format": PROMPT_FORMAT}


def tensor_sha256(t: torch.Tensor) -> str:
    """Hash of the tensor's fp32 bytes (shape-sensitive through the json's shape field)."""
    data = t.detach().to("cpu", torch.float32).contiguous().numpy().tobytes()
    return hashlib.sha256(data).hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a fsynced temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~umask())  # mkstemp's 0600 would hide results from the rest of a shared cluster
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@functools.cache
def umask() -> int:
    """The process's file-creation mask (read once: reading it means setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def atomic_write_csv(path: Path, rows: Iterable[Sequence[Any]]) -> None:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def atomic_write_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> None:
    """A safetensors file, written like every other file here (temporary name, fsync, rename)."""
    atomic_write_bytes(path, safetensors_bytes({k: v.contiguous() for k, v in tensors.items()}, metadata=metadata))


def save_prompt(directory: str | Path, prompt: torch.Tensor, meta: dict[str, Any], fault_step: int | None = None) -> Path:
    """Write the artifact into `directory`: tensor first, then the json that vouches for it. A crash between
    the two leaves a tensor whose checksum the old json refuses, never a silently wrong prompt."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensor = prompt.detach().to("cpu", torch.float32).contiguous()
    atomic_write_tensors(directory / TENSOR_FILE, {TENSOR_KEY: tensor})
    if fault_step is not None:
        maybe_fail("prompt", fault_step)
    full = {**meta, "length": tensor.shape[0], "hidden_size": tensor.shape[1], "sha256": tensor_sha256(tensor)}
    atomic_write_json(directory / META_FILE, full)
    return directory


def load_prompt(path: str | Path, flag: str = "--prompt") -> tuple[torch.Tensor, dict[str, Any]]:
    """Read an artifact (its folder, or either of its two files); refuse missing, corrupt or mismatched files."""
    directory = _artifact_dir(Path(path), flag)
    try:
        meta = json.loads((directory / META_FILE).read_text())
    except (OSError, ValueError) as e:
        raise PttError(f"{flag} {path}: cannot read {META_FILE} ({e}); point to a folder written by `ptt train`")
    try:
        tensor = load_file(str(directory / TENSOR_FILE))[TENSOR_KEY]
    except (OSError, SafetensorError, KeyError) as e:
        raise PttError(f"{flag} {path}: {TENSOR_FILE} is unreadable or truncated ({e}); retrain or restore it")
    if meta.get("sha256") != tensor_sha256(tensor):
        raise PttError(f"{flag} {path}: checksum mismatch between {TENSOR_FILE} and {META_FILE}; the file is corrupt")
    return tensor, meta


def _artifact_dir(path: Path, flag: str) -> Path:
    directory = path.parent if path.name in (TENSOR_FILE, META_FILE) else path
    if (directory / MIXTURE_META).is_file() and not (directory / META_FILE).is_file():
        raise PttError(f"{flag} {path}: holds an attention mixture, not a plain prompt; `ptt prompts flatten --mixture "
                       f"{path} --output-dir OUT` makes one (ptt eval and ptt transfer eval score the mixture itself)")
    if not (directory / META_FILE).is_file() or not (directory / TENSOR_FILE).is_file():
        raise PttError(
            f"{flag} {path}: no prompt artifact there (expected {TENSOR_FILE} and {META_FILE}); "
            "pass a run's best/ or last/ folder"
        )
    return directory


def backbone_id(meta: dict[str, Any]) -> str:
    """Which backbone an artifact belongs to: its recorded absolute folder, else its backbone name."""
    return meta.get("backbone_path") or meta.get("backbone") or "?"


def find_artifacts(directory: str | Path) -> list[Path]:
    """Every folder under `directory` (itself included, recursively) holding prompt.json + prompt.safetensors,
    sorted by path."""
    root = Path(directory)
    return sorted(p.parent for p in root.rglob(META_FILE) if (p.parent / TENSOR_FILE).is_file())


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """One hash over a folder's named tensors (name order, flattened): projectors and mixtures vouch with it."""
    return tensor_sha256(torch.cat([state[k].flatten() for k in sorted(state)]))


def load_checked_state(directory: str | Path, meta_file: str, tensor_file: str, flag: str,
                       hint: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(json meta, tensors) of a folder whose meta vouches for its tensors by `state_sha256`; unreadable files or a
    checksum mismatch are one-line errors (hint: how to get a good folder)."""
    d = Path(directory)
    try:
        meta = json.loads((d / meta_file).read_text())
        state = load_file(str(d / tensor_file))
    except (OSError, ValueError, SafetensorError) as e:
        raise PttError(f"{flag} {directory}: unreadable ({e}); {hint}")
    if not isinstance(meta, dict) or state_sha256(state) != meta.get("sha256"):
        raise PttError(f"{flag} {directory}: checksum mismatch between {tensor_file} and {meta_file}; the files are "
                       f"corrupt; {hint}")
    return meta, state


def check_output_dir(path: str | Path, overwrite: bool, flag: str = "--output-dir") -> None:
    """Refuse a folder that already holds anything (a run, another artifact) unless --overwrite, and never replace
    a run folder (it holds config.json) with a single artifact."""
    folder = Path(path)
    if not folder.is_dir() or not any(folder.iterdir()):
        return
    if (folder / "config.json").exists():
        raise PttError(f"{flag} {path}: a run folder; write the artifact into a folder of its own")
    if not overwrite:
        raise PttError(f"{flag} {path}: not empty; pass --overwrite to replace what is there, or another folder")


def find_mixtures(directory: str | Path) -> list[Path]:
    """Every folder under `directory` holding an attention-mixture artifact (mixture.json), sorted by path."""
    return sorted(p.parent for p in Path(directory).rglob(MIXTURE_META))


def artifact_paths(values: Sequence[str], flag: str) -> list[str]:
    """The prompt artifacts named by an option's values, as a shell hands them over.

    Each value may be an artifact folder (or one of its two files), a folder holding artifacts (every one under
    it, sorted), or several of these separated by spaces (one quoted value). Order is kept; a folder with no
    artifact under it is refused.
    """
    out = []
    for chunk in values:
        for value in chunk.split():
            path = Path(value)
            folder = path.parent if path.name in (TENSOR_FILE, META_FILE) else path
            is_artifact = folder.joinpath(META_FILE).is_file() or folder.joinpath(MIXTURE_META).is_file()
            if path.is_dir() and not is_artifact:
                found = sorted(set(find_artifacts(path)) | set(find_mixtures(path)))
                if not found:
                    raise PttError(f"{flag} {value}: a folder with no prompt artifact under it (a folder with "
                                   f"{META_FILE} and {TENSOR_FILE}, e.g. a run's best/)")
                out.extend(str(p) for p in found)
            else:
                out.append(value)
    return out
