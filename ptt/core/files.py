"""Reading the data files: where the packaged data lives, UTF-8 text with a clear error, lines split as the
formats need. Shared by the classification loaders (`data.py`) and the generation loaders (`generation.py`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ptt.errors import PttError


def default_data_dir() -> Path:
    """The data slices packaged in ptt/assets/data (same layout as the full shared data)."""
    ref = resources.files("ptt").joinpath("assets").joinpath("data")
    if isinstance(ref, Path):
        return ref
    # Namespace package or unusual loader: fall back to the package folder above this file.
    return Path(__file__).resolve().parents[1] / "assets" / "data"


def read_text(path: Path, flag: str) -> str:
    """Read a UTF-8 file (a BOM is dropped, e.g. MRPC's) or raise a PttError naming the flag."""
    if not path.is_file():
        raise PttError(f"{flag}: file not found: {path}; check the path "
                       "(a data dir must mirror the layout of ptt/assets/data)")
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise PttError(f"{flag}: {path} is not UTF-8 (byte {err.object[err.start]:#04x} at "
                       f"offset {err.start}); re-save the file as UTF-8") from None


def split_lines(text: str) -> list[str]:
    """Split on \\n only (str.splitlines also splits on \\x85, \\u2028, ... inside tweets)."""
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    return lines[:-1] if lines and lines[-1] == "" else lines


def hub_split(hf_path: str, hf_name: str | None, hf_split: str):
    """`datasets.load_dataset(hf_path, hf_name, split=hf_split)`, any failure (network, auth, missing config) as
    one user-facing line."""
    import datasets  # deferred: only online users pay for it here

    try:
        return datasets.load_dataset(hf_path, hf_name, split=hf_split)
    except Exception as err:
        first_line = (str(err).splitlines() or [""])[0]
        raise PttError(f"--data-source hub: cannot load {hf_path} ({hf_name}) split {hf_split!r}: "
                       f"{type(err).__name__}: {first_line}; check the network or use the local data") from None
