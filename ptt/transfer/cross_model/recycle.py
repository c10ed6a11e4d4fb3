"""Data-free prompt recycling across backbones (Lester et al. 2022): a map between the two backbones' input
embeddings of the tokens their vocabularies share, fitted with no task data and no training on the target.

    v2v-lin   one global least-squares map W [Hs, Ht] with E_src[shared] W ~ E_tgt[shared]; the recycled prompt
              is P W.
    lin-comb  local: each prompt vector p as the least-squares combination c of its K nearest shared source
              embeddings (by cosine; c E_src[near] ~ p), rebuilt from the same tokens' target embeddings, c E_tgt[near].
              Over all shared tokens the minimum-norm combination would give exactly P W (pinv(X) Y is the
              least-squares map), so the neighbourhood is what makes it a different estimator: it follows the
              local, not the global, relation between the two spaces.

Tokens are matched by their string, with each tokenizer's word-start marker read as a leading space (SentencePiece
"▁x", byte-level BPE "Ġx" and WordPiece "x" are all " x"; "##x" and plain BPE "x" are "x"), so that vocabularies
of different schemes share their words. Shapes: L prompt length, N shared tokens, Hs / Ht hidden sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import safe_open

from ptt.errors import PttError
from ptt.families import resolve_family
from ptt.families.loading import (gguf_embedding, load_config, load_frozen, load_tokenizer, local_path, locate,
                                  resolve_name)
from ptt.runtime.artifacts import backbone_id, load_prompt

METHODS = ("v2v-lin", "lin-comb")
DEFAULT_MAX_TOKENS = 20000
LIN_COMB_NEIGHBOURS = 64
MIN_SHARED = 100


def word_scheme(vocab: dict[str, int]) -> str:
    """sentencepiece | bpe | wordpiece: which word-start marker the vocabulary uses (the commonest of the three)."""
    counts = {"sentencepiece": sum(t.startswith("▁") for t in vocab), "bpe": sum(t.startswith("Ġ") for t in vocab),
              "wordpiece": sum(t.startswith("##") for t in vocab)}
    return max(counts, key=counts.get)


def canonical(token: str, scheme: str) -> str:
    """The token's text with word starts as a leading space."""
    if scheme == "sentencepiece":
        return " " + token[1:] if token.startswith("▁") else token
    if scheme == "bpe":
        return " " + token[1:] if token.startswith("Ġ") else token
    return token[2:] if token.startswith("##") else " " + token


def canonical_vocab(tokenizer) -> dict[str, int]:
    """canonical string -> id (the lowest id where several tokens read the same), special tokens left out."""
    vocab = tokenizer.get_vocab()
    scheme, special = word_scheme(vocab), set(tokenizer.all_special_tokens)
    out: dict[str, int] = {}
    for token, i in sorted(vocab.items(), key=lambda kv: kv[1]):
        if token in special:
            continue
        out.setdefault(canonical(token, scheme), i)
    return out


def shared_ids(source: dict[str, int], target: dict[str, int], limit: int | None = None,
               vocab_sizes: tuple[int, int] | None = None) -> tuple[list[int], list[int]]:
    """(source ids, target ids) of the strings both canonical vocabularies hold, in target-id order (a frequency
    proxy for BPE and SentencePiece vocabularies), at most `limit`, each id below its embedding's size."""
    pairs = sorted((t, source[s]) for s, t in target.items() if s in source)
    if vocab_sizes is not None:
        pairs = [(t, s) for t, s in pairs if s < vocab_sizes[0] and t < vocab_sizes[1]]
    pairs = pairs[:limit] if limit else pairs
    return [s for _, s in pairs], [t for t, _ in pairs]


def fit_linear(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """W [Hs, Ht] minimizing ||x W - y|| (x [N, Hs], y [N, Ht]), in float64."""
    return torch.linalg.lstsq(x.double(), y.double(), driver="gelsd").solution


def recycle(prompt: torch.Tensor, source_emb: torch.Tensor, target_emb: torch.Tensor, method: str) -> torch.Tensor:
    """The prompt [L, Hs] moved into the target space [L, Ht] through the shared embeddings [N, Hs], [N, Ht]."""
    if method == "v2v-lin":
        return (prompt.double() @ fit_linear(source_emb, target_emb)).float()
    if method == "lin-comb":
        x, y, p = source_emb.double(), target_emb.double(), prompt.double()
        k = min(LIN_COMB_NEIGHBOURS, x.shape[0])
        near = (F.normalize(p, dim=-1) @ F.normalize(x, dim=-1).T).topk(k, dim=-1).indices  # [L, K]
        rows = []
        for i in range(p.shape[0]):
            coeff = p[i:i + 1] @ torch.linalg.pinv(x[near[i]])  # [1, K], minimum norm
            rows.append(coeff @ y[near[i]])
        return torch.cat(rows).float()
    raise PttError(f"--method {method}: choose one of {', '.join(METHODS)}")


def input_embeddings(name: str) -> tuple[torch.Tensor, Any]:
    """(input embedding matrix [V, H] in fp32, tokenizer) of a backbone, on the CPU without DeepSpeed: read from the
    checkpoint's safetensors (or a GGUF file's embedding tensor) alone where it can be found, else from the loaded
    model."""
    config = load_config(name)
    family = resolve_family(config, None, name)
    emb = gguf_embedding(name) if locate(name).file else embedding_from_files(resolve_name(name), family.load_class(),
                                                                              config)
    if emb is None:
        model = load_frozen(name, family.load_class(), torch.float32)
        emb = model.get_input_embeddings().weight.detach().float().clone()
        del model
    return emb, load_tokenizer(name)


def embedding_from_files(path: str, auto_class, config) -> torch.Tensor | None:
    """The input embedding tensor read from the checkpoint's safetensors without building the model (its name comes
    from a weightless copy of the model on the meta device); None where that is not possible."""
    try:
        with torch.device("meta"):
            model = auto_class.from_config(config)
        weight = model.get_input_embeddings().weight
        name = next(n for n, p in model.named_parameters() if p is weight)
        prefix = getattr(model, "base_model_prefix", "") or ""
    except (StopIteration, ValueError, TypeError, RuntimeError, AttributeError):
        return None
    keys = [name] + ([name[len(prefix) + 1:]] if prefix and name.startswith(prefix + ".") else [f"{prefix}.{name}"]
                     if prefix else [])
    files = checkpoint_files(path)
    for file in files:
        with safe_open(str(file), framework="pt") as f:
            for key in keys:
                if key in f.keys():
                    return f.get_tensor(key).float()
    return None


def checkpoint_files(path: str) -> list[Path]:
    """The safetensors files of a local checkpoint folder (sharded or not), or of a hub one already in the cache."""
    folder = Path(path)
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(path, allow_patterns=["*.safetensors", "*.json"], local_files_only=True))
        except Exception:  # not cached, no hub access: the caller loads the model instead
            return []
    return sorted(folder.glob("*.safetensors"))


def recycle_artifact(path: str, target_backbone: str, method: str = "v2v-lin", max_tokens: int = DEFAULT_MAX_TOKENS,
                     flag: str = "--prompt") -> tuple[torch.Tensor, dict[str, Any]]:
    """A saved prompt recycled to `target_backbone`: (tensor [L, Ht], info for the new artifact's `init`)."""
    if method not in METHODS:
        raise PttError(f"--method {method}: choose one of {', '.join(METHODS)}")
    tensor, meta = load_prompt(path, flag=flag)
    source_backbone = backbone_id(meta)
    src_emb, src_tok = input_embeddings(source_backbone)
    if src_emb.shape[1] != tensor.shape[1]:
        raise PttError(f"{flag} {path}: hidden size {tensor.shape[1]} but its backbone {source_backbone} has "
                       f"{src_emb.shape[1]}; the artifact does not belong to that backbone")
    tgt_emb, tgt_tok = input_embeddings(target_backbone)
    src_ids, tgt_ids = shared_ids(canonical_vocab(src_tok), canonical_vocab(tgt_tok), max_tokens,
                                  (src_emb.shape[0], tgt_emb.shape[0]))
    need = max(MIN_SHARED, src_emb.shape[1])
    if max_tokens < need:
        raise PttError(f"--max-tokens {max_tokens}: the map from {source_backbone} (hidden {src_emb.shape[1]}) needs "
                       f"at least {need} shared tokens; raise --max-tokens")
    if len(src_ids) < need:
        raise PttError(f"{flag} {path}: {source_backbone} and {target_backbone} share {len(src_ids)} tokens; "
                       f"recycling fits a map on shared tokens and needs at least {need} (the source hidden size, "
                       "and >= 100); use backbones with overlapping vocabularies or a trained projector "
                       "(`ptt transfer project fit`)")
    x, y = src_emb[src_ids], tgt_emb[tgt_ids]
    out = recycle(tensor, x, y, method)
    residual = None
    if method == "v2v-lin":  # how linear the two embedding spaces are on the shared tokens (0: exactly)
        residual = float((x.double() @ fit_linear(x, y) - y.double()).norm() / y.double().norm())
    info = {"init": "recycle", "method": method, "source": str(path), "source_task": meta.get("task"),
            "source_backbone": source_backbone, "source_sha256": meta.get("sha256"), "shared_tokens": len(src_ids),
            "fit_relative_residual": residual, "target_backbone": local_path(target_backbone) or target_backbone}
    return out, info
