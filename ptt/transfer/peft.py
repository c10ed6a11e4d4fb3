"""Interchange with PEFT prompt-tuning adapters.

A ptt prompt artifact is a folder with `prompt.safetensors` + `prompt.json` (see `ptt.runtime.artifacts`). A PEFT
prompt-tuning adapter is a folder with `adapter_config.json` (peft_type PROMPT_TUNING) and
`adapter_model.safetensors` holding one tensor `prompt_embeddings` [num_virtual_tokens x
num_transformer_submodules, token_dim], as `PeftModel.save_pretrained` writes it.

Family <-> PEFT task type (each family's `peft_task_type` and `peft_submodules`):

| ptt family | PEFT task_type     | num_transformer_submodules | what PEFT's forward does with the prompt           |
|------------|--------------------|----------------------------|----------------------------------------------------|
| seq2seq    | SEQ_2_SEQ_LM       | 2 (PEFT's default)         | prepends rows [0, L) to the encoder input embeddings |
| masked_lm  | FEATURE_EXTRACTION | 1                          | prepends the L rows to the input embeddings          |
| encoder    | FEATURE_EXTRACTION | 1                          | prepends the L rows to the input embeddings          |

PEFT has no masked-LM task type. FEATURE_EXTRACTION loads into a plain `*ForMaskedLM` model and prepends the
prompt exactly as ptt does (its forward returns the MLM logits); CAUSAL_LM (`task_type="CAUSAL_LM"`) also
works and pads `labels` for the virtual tokens, but PEFT's causal-LM wrapper reads
`model.prepare_inputs_for_generation`, which *ForMaskedLM models lack, so it only loads into a model given
that attribute. For seq2seq, PEFT's prompt tuning uses only the first block of rows (the encoder's); the
export repeats the prompt in both blocks, the import keeps the first.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from ptt.errors import PttError
from ptt.families import FAMILIES, detect_family
from ptt.families.loading import hidden_size, load_config, local_path, resolve_name
from ptt.runtime.artifacts import (
    atomic_write_json,
    atomic_write_tensors,
    backbone_id,
    load_prompt,
    prompt_meta,
    save_prompt,
    tensor_sha256,
)

PEFT_CONFIG_FILE = "adapter_config.json"
PEFT_WEIGHTS_FILE = "adapter_model.safetensors"
PEFT_LEGACY_WEIGHTS_FILE = "adapter_model.bin"
PEFT_KEY = "prompt_embeddings"
SIDECAR_FILE = "ptt_prompt.json"  # the exported artifact's prompt.json, so an import round trip keeps task/metrics

FAMILY_OF_TASK_TYPE = {"SEQ_2_SEQ_LM": "seq2seq", "CAUSAL_LM": "masked_lm", "FEATURE_EXTRACTION": "encoder"}
"""PEFT task_type -> ptt family, used by `import_peft` only when the backbone config cannot be loaded."""


def _backbone_ref(meta: dict[str, Any]) -> str:
    """Where the backbone loads from: the recorded absolute folder, else the name (bundled aliases resolved)."""
    return resolve_name(backbone_id(meta))


def _try_config(name: str):
    try:
        return load_config(name)
    except PttError:
        return None


def export_peft(prompt_path: str | Path, out_dir: str | Path, task_type: str | None = None) -> Path:
    """Write a ptt prompt artifact as a PEFT prompt-tuning adapter in `out_dir`.

    Files: adapter_model.safetensors ({"prompt_embeddings": [L * S, H]} fp32, S = num_transformer_submodules,
    the prompt repeated in each block), ptt_prompt.json (the artifact's prompt.json; PEFT ignores it), and
    adapter_config.json last (built by PEFT's own PromptTuningConfig: peft_type PROMPT_TUNING, task_type,
    num_virtual_tokens L, token_dim H, num_transformer_submodules, num_attention_heads and num_layers of the
    backbone when its config loads, base_model_name_or_path, prompt_tuning_init RANDOM, inference_mode true as
    PEFT saves it). Each file is written to a temporary name and renamed.

    task_type: default by family (`Family.peft_task_type`). Load it with `PeftModel.from_pretrained(base, out_dir)`.
    """
    from peft import PromptTuningConfig

    tensor, meta = load_prompt(prompt_path)
    backbone = _backbone_ref(meta)
    config = _try_config(backbone)
    family = meta.get("family")
    if family is None and config is not None:
        family = detect_family(config).name
    task_type = task_type or (FAMILIES[family].peft_task_type if family in FAMILIES else "FEATURE_EXTRACTION")
    submodules = next((f.peft_submodules for f in FAMILIES.values() if f.peft_task_type == task_type), 1)
    try:
        peft_config = PromptTuningConfig(
            task_type=task_type, num_virtual_tokens=tensor.shape[0], token_dim=tensor.shape[1],
            num_transformer_submodules=submodules, num_attention_heads=_heads(config), num_layers=_layers(config),
            base_model_name_or_path=backbone, prompt_tuning_init="RANDOM", inference_mode=True)
    except ValueError as e:
        raise PttError(f"PEFT task_type {task_type}: PEFT refuses it ({e})") from e
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise PttError(f"{out_dir}: exists and is not a folder; give a folder for the adapter")
    weights = tensor.float().repeat(submodules, 1).contiguous()
    atomic_write_tensors(out / PEFT_WEIGHTS_FILE, {PEFT_KEY: weights}, metadata={"format": "pt"})
    atomic_write_json(out / SIDECAR_FILE, meta)
    cfg = {k: (list(v) if isinstance(v, set) else v) for k, v in peft_config.to_dict().items()}
    atomic_write_json(out / PEFT_CONFIG_FILE, cfg)
    return out


def _heads(config) -> int | None:
    if config is None:
        return None
    return getattr(config, "num_attention_heads", None) or getattr(config, "num_heads", None)


def _layers(config) -> int | None:
    if config is None:
        return None
    return getattr(config, "num_hidden_layers", None) or getattr(config, "num_layers", None)


def read_peft_adapter(adapter_dir: str | Path) -> tuple[dict[str, Any], torch.Tensor]:
    """(adapter_config.json as a dict, prompt_embeddings [N, token_dim] fp32) of a PEFT prompt-tuning adapter.
    Anything else is a PttError naming the folder."""
    d = Path(adapter_dir)
    where = f"adapter {adapter_dir}"
    if not (d / PEFT_CONFIG_FILE).is_file():
        raise PttError(f"{where}: not a PEFT adapter (no {PEFT_CONFIG_FILE}); pass a folder written by "
                       "PeftModel.save_pretrained")
    try:
        cfg = json.loads((d / PEFT_CONFIG_FILE).read_text())
        if not isinstance(cfg, dict):
            raise ValueError("not a json object")
    except (OSError, ValueError) as e:
        raise PttError(f"{where}: {PEFT_CONFIG_FILE} is unreadable ({e})") from e
    if cfg.get("peft_type") != "PROMPT_TUNING":
        raise PttError(f"{where}: a {cfg.get('peft_type')} adapter, not PROMPT_TUNING; only prompt-tuning adapters "
                       "hold a soft prompt")
    n, dim = cfg.get("num_virtual_tokens"), cfg.get("token_dim")
    if not isinstance(n, int) or n < 1:
        raise PttError(f"{where}: num_virtual_tokens {n!r} in {PEFT_CONFIG_FILE} is not a positive integer")
    try:
        if (d / PEFT_WEIGHTS_FILE).is_file():
            state = load_file(str(d / PEFT_WEIGHTS_FILE))
        elif (d / PEFT_LEGACY_WEIGHTS_FILE).is_file():
            state = torch.load(d / PEFT_LEGACY_WEIGHTS_FILE, map_location="cpu", weights_only=True)
        else:
            raise PttError(f"{where}: no {PEFT_WEIGHTS_FILE} (or {PEFT_LEGACY_WEIGHTS_FILE}) next to "
                           f"{PEFT_CONFIG_FILE}")
    except (OSError, SafetensorError, RuntimeError, ValueError, pickle.UnpicklingError) as e:
        raise PttError(f"{where}: the adapter weights are unreadable or truncated ({e})") from e
    weights = state.get(PEFT_KEY) if isinstance(state, dict) else None
    if not isinstance(weights, torch.Tensor) or weights.dim() != 2:
        raise PttError(f"{where}: the weights hold no 2-D {PEFT_KEY!r} tensor (keys: {sorted(state)[:5]})")
    if weights.shape[0] < n or (isinstance(dim, int) and weights.shape[1] != dim):
        raise PttError(f"{where}: {PEFT_KEY} has shape {tuple(weights.shape)} but the config says "
                       f"{n} virtual tokens of size {dim}")
    return cfg, weights.float()


def import_peft(adapter_dir: str | Path, out_dir: str | Path, backbone: str | None = None,
                task: str | None = None) -> Path:
    """Write a PEFT prompt-tuning adapter as a ptt prompt artifact in `out_dir`.

    The prompt is the first num_virtual_tokens rows of prompt_embeddings (for seq2seq the encoder's block, the
    only one PEFT's prompt tuning uses). prompt.json: backbone = `backbone` or the adapter's
    base_model_name_or_path; family from the backbone's config (`detect_family`) when it loads, else from the
    adapter's task_type (`FAMILY_OF_TASK_TYPE`); task = `task`, else the one ptt recorded at export, else
    "unknown"; step and metrics only from ptt's own export record, and only if its checksum matches the prompt.
    A backbone whose hidden size differs from token_dim is refused.
    """
    cfg, weights = read_peft_adapter(adapter_dir)
    n = cfg["num_virtual_tokens"]
    prompt = weights[:n].contiguous()
    backbone = backbone or cfg.get("base_model_name_or_path")
    if not backbone:
        raise PttError(f"adapter {adapter_dir}: names no base model (base_model_name_or_path); "
                       "pass --backbone")
    config = _try_config(backbone)
    if config is not None and hidden_size(config) != prompt.shape[1]:
        raise PttError(f"--backbone {backbone}: hidden size {hidden_size(config)} but the adapter's prompt has "
                       f"{prompt.shape[1]}; pass the backbone the adapter was trained on")
    sidecar = _sidecar(Path(adapter_dir), tensor_sha256(prompt))
    family = detect_family(config, backbone).name if config is not None else \
        sidecar.get("family") or FAMILY_OF_TASK_TYPE.get(str(cfg.get("task_type")))
    meta = prompt_meta(
        backbone=backbone, backbone_path=local_path(backbone), family=family,
        task=task or sidecar.get("task") or "unknown", step=sidecar.get("step"),
        metrics=sidecar.get("metrics") or {}, max_length=sidecar.get("max_length", 128),
        model_type=getattr(config, "model_type", None),
        init={"init": "peft", "source": str(adapter_dir), "peft_task_type": cfg.get("task_type"),
              "num_transformer_submodules": cfg.get("num_transformer_submodules"),
              "rows_in_adapter": int(weights.shape[0])})
    return save_prompt(out_dir, prompt, meta)


def _sidecar(adapter_dir: Path, sha: str) -> dict[str, Any]:
    """ptt's export record, if present and vouching for this very prompt; else {}."""
    try:
        meta = json.loads((adapter_dir / SIDECAR_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) and meta.get("sha256") == sha else {}
