"""The attention mixture of prompts (ATTEMPT, Asai et al. 2022): frozen source prompts and one new trainable prompt,
mixed per input by a small attention module over the pooled input; its artifact; its plain-prompt export.

For an input with token embeddings X [T, H] (pad positions left out):
    x = max-pool(X)                                  [H]
    g = LayerNorm(W_up SiLU(W_down x))               [H]      (W_down: H -> r, W_up: r -> H)
    a = softmax_j(max-pool(P_j) . g / sqrt(H))       over the S sources and the new prompt P_new
    P(x) = P_new + sum_j a_j P_j                     [L, H]
Only P_new and the attention module (W_down, W_up, the norm) train; the sources are buffers, never updated.

The artifact is a folder with `mixture.safetensors` (the trainable tensors) and `mixture.json` (sources by path and
sha256, checked on load; backbone, task, metrics). Shapes: B batch, T tokens, L prompt length, H hidden, S sources.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ptt.errors import PttError
from ptt.runtime.artifacts import (MIXTURE_META, atomic_write_json, atomic_write_tensors, load_checked_state,
                                   load_prompt, state_sha256)

MIXTURE_FILE = "mixture.safetensors"
FORMAT = "ptt-mixture-v1"
DEFAULT_RANK = 32


class MixturePrompt(nn.Module):
    """Per-input prompts [B, L, H] from frozen sources [S, L, H] and a trainable new prompt [L, H]."""

    input_dependent = True  # PromptModel calls forward(embeds, mask) instead of forward()

    def __init__(self, sources: torch.Tensor, init: torch.Tensor, rank: int = DEFAULT_RANK):
        super().__init__()
        hidden = init.shape[1]
        self.register_buffer("sources", sources.detach().clone(), persistent=False)  # [S, L, H], never trained
        self.target = nn.Parameter(init.detach().clone())  # [L, H]
        self.down = nn.Linear(hidden, rank, bias=False)
        self.up = nn.Linear(rank, hidden, bias=False)
        self.norm = nn.LayerNorm(hidden)

    def stack(self) -> torch.Tensor:
        """The S sources and the new prompt, [S + 1, L, H]: what the attention chooses among."""
        return torch.cat([self.sources.to(self.target.dtype), self.target.unsqueeze(0)])

    def weights(self, embeds: torch.Tensor, mask: torch.Tensor, stack: torch.Tensor | None = None) -> torch.Tensor:
        """Attention over the S sources and the new prompt [B, S + 1] (rows sum to 1). stack: `self.stack()`."""
        fill = torch.finfo(embeds.dtype).min
        pooled = embeds.masked_fill(~mask.bool().unsqueeze(-1), fill).amax(dim=1)  # [B, H]
        g = self.norm(self.up(F.silu(self.down(pooled.to(self.target.dtype)))))  # [B, H]
        keys = (self.stack() if stack is None else stack).amax(dim=1)  # [S + 1, H]
        return torch.softmax(g @ keys.T / keys.shape[-1] ** 0.5, dim=-1)

    def forward(self, embeds: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        stack = self.stack()
        return self.target.unsqueeze(0) + torch.einsum("bs,slh->blh", self.weights(embeds, mask, stack), stack)


def save_mixture(directory: str | Path, state: dict[str, torch.Tensor], sources: Sequence[dict[str, Any]],
                 meta: dict[str, Any]) -> Path:
    """Tensors first, then the json that vouches for them (sources: [{path, task, sha256}])."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
    atomic_write_tensors(directory / MIXTURE_FILE, tensors)
    target = tensors["target"]
    atomic_write_json(directory / MIXTURE_META, {
        **meta, "format": FORMAT, "length": target.shape[0], "hidden_size": target.shape[1],
        "rank": tensors["down.weight"].shape[0], "sources": [{k: s[k] for k in ("path", "task", "sha256")}
                                                             for s in sources],
        "sha256": state_sha256(tensors)})
    return directory


def is_mixture(path: str | Path) -> bool:
    return (Path(path) / MIXTURE_META).is_file()


def load_mixture(path: str | Path, flag: str = "--prompt") -> tuple[MixturePrompt, dict[str, Any]]:
    """The mixture module (fp32, CPU) and its meta; a missing or changed source, or corrupt files, are refused."""
    meta, state = load_checked_state(path, MIXTURE_META, MIXTURE_FILE, flag,
                                     "point to a folder written by a mixture run (its best/ or last/)")
    missing = [k for k in ("sha256", "sources", "rank", "length", "hidden_size") if k not in meta]
    if missing or "target" not in state:
        raise PttError(f"{flag} {path}: {MIXTURE_META} lacks {', '.join(missing) or 'the target tensor'}; the artifact "
                       "is incomplete, point to a folder written by a mixture run")
    tensors = checked_sources(meta["sources"], f"{flag} {path}")
    module = MixturePrompt(torch.stack(tensors), state["target"], rank=meta["rank"])
    module.load_state_dict(state, strict=False)  # the sources are a non-persistent buffer
    return module, meta


def checked_sources(entries: Sequence[dict[str, Any]], where: str) -> list[torch.Tensor]:
    """The source prompts a mixture recorded ({path, sha256} each), refused when missing or changed."""
    tensors = []
    for s in entries:
        if not Path(s["path"]).exists():
            raise PttError(f"{where}: its source prompt {s['path']} is missing; restore it (the mixture mixes it at "
                           "every input) or retrain the mixture")
        tensor, smeta = load_prompt(s["path"], flag=where)
        if smeta.get("sha256") != s["sha256"]:
            raise PttError(f"{where}: its source prompt {s['path']} changed since the mixture was trained "
                           f"(sha256 {str(smeta.get('sha256'))[:12]} != {s['sha256'][:12]}); restore it or retrain")
        tensors.append(tensor)
    return tensors


@torch.no_grad()
def mean_prompt(module: MixturePrompt, batches) -> torch.Tensor:
    """The mixture's prompt averaged over every input of `batches` ((embeds [B, T, H], mask [B, T]) pairs): [L, H]."""
    total, count = None, 0
    for embeds, mask in batches:
        prompts = module(embeds, mask).double()
        total = prompts.sum(0) if total is None else total + prompts.sum(0)
        count += prompts.shape[0]
    if not count:
        raise PttError("mixture export: no training input to average over")
    return (total / count).float()
