"""Transferability indicators (Su et al., NAACL 2022, section 6) and their rank correlation with transfer.

Two kinds of indicator compare two soft prompts of one backbone:

* embedding similarity of the prompts themselves (pure functions of two [L, H] tensors):
  `cosine_flat`, `cosine_tokenwise`, `euclidean_flat`, `euclidean_tokenwise`;
* ON, the overlap of the feed-forward neurons each prompt activates in the frozen backbone
  (`activation_masks` records them through forward hooks; `on_overlap` & co. compare them).

`indicator_matrices(session, prompts)` gives every indicator's prompt-by-prompt matrix, and
`correlate(...)` pairs an indicator matrix with a `ptt transfer eval` matrix (Spearman, Kendall tau-b).

Shapes: L = prompt length, H = hidden size, F = feed-forward (intermediate) size, P = recorded positions.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ptt.errors import PttError

Matrix = list[list[float]]


# ---------------------------------------------------------------------------------------------------------
# Embedding similarities (pure)
# ---------------------------------------------------------------------------------------------------------

def _flat_pair(a: torch.Tensor, b: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if a.numel() != b.numel():
        raise ValueError(f"{name}: prompts of shape {tuple(a.shape)} and {tuple(b.shape)} have different sizes")
    return a.detach().reshape(-1).double(), b.detach().reshape(-1).double()


def _token_pair(a: torch.Tensor, b: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    if a.dim() != 2 or b.dim() != 2:
        raise ValueError(f"{name}: expects two [L, H] prompts, got {tuple(a.shape)} and {tuple(b.shape)}")
    if a.shape != b.shape:
        raise ValueError(f"{name}: prompts of shape {tuple(a.shape)} and {tuple(b.shape)}; matching positions need "
                         "the same length and hidden size")
    return a.detach().double(), b.detach().double()


def cosine_flat(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of the two flattened prompts.

    Args: a, b: [L, H] (any shapes with the same number of elements). Returns a float in [-1, 1]
    (0 when either prompt is all zeros).
    """
    x, y = _flat_pair(a, b, "cosine_flat")
    return float(torch.nn.functional.cosine_similarity(x, y, dim=0))


def cosine_tokenwise(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over positions i of cos(a_i, b_i) (matching positions only).

    Args: a, b: [L, H] of the same shape, else ValueError. Returns a float in [-1, 1].
    Note: the authors' released script averages over *all* L x L token pairs; this is the
    position-matched variant.
    """
    x, y = _token_pair(a, b, "cosine_tokenwise")
    return float(torch.nn.functional.cosine_similarity(x, y, dim=1).mean())


def euclidean_flat(a: torch.Tensor, b: torch.Tensor) -> float:
    """1 / (1 + ||a - b||) of the flattened prompts: 1 for identical prompts, towards 0 as they move apart.

    Args: a, b: [L, H] (same number of elements).
    """
    x, y = _flat_pair(a, b, "euclidean_flat")
    return float(1.0 / (1.0 + torch.linalg.vector_norm(x - y)))


def euclidean_tokenwise(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean over positions i of 1 / (1 + ||a_i - b_i||).

    Args: a, b: [L, H] of the same shape, else ValueError.
    """
    x, y = _token_pair(a, b, "euclidean_tokenwise")
    return float((1.0 / (1.0 + torch.linalg.vector_norm(x - y, dim=1))).mean())


INDICATORS: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {
    "cosine_flat": cosine_flat,
    "cosine_tokenwise": cosine_tokenwise,
    "euclidean_flat": euclidean_flat,
    "euclidean_tokenwise": euclidean_tokenwise,
}
"""The embedding-similarity indicators by name (each: two [L, H] prompts -> float, 1 for identical prompts)."""


def similarity_matrix(prompts: Sequence, fn: Callable[[Any, Any], float]) -> Matrix:
    """[N][N] with entry (i, j) = fn(prompts[i], prompts[j]). prompts: N tensors [L, H] (or N per-layer mask lists)."""
    return [[fn(a, b) for b in prompts] for a in prompts]


# ---------------------------------------------------------------------------------------------------------
# ON: overlap of activated neurons (pure)
# ---------------------------------------------------------------------------------------------------------

def on_overlap(mask_a: torch.Tensor, mask_b: torch.Tensor) -> float:
    """Overlap of two sets of activated neurons: |A n B| / sqrt(|A| |B|).

    Args: mask_a, mask_b: boolean masks of the same shape (any shape; e.g. [P, F] of one layer), True where a
    neuron is active (activation > 0). Returns a float in [0, 1]: 1 for identical non-empty sets, 0 for
    disjoint ones, and 0.0 when either set is empty.

    This is the cosine similarity of the two binarized activation vectors, which is how the paper's ON
    ("overlapping rate of activated neurons") is computed: the authors binarize the FFN activations at > 0 and
    take the cosine of the 0/1 vectors. It is not the Jaccard index |A n B| / |A u B|, which is smaller
    whenever the sets differ (e.g. A={1,2}, B={2,3}: this gives 0.5, Jaccard 1/3).
    """
    if mask_a.shape != mask_b.shape:
        raise ValueError(f"on_overlap: masks of shape {tuple(mask_a.shape)} and {tuple(mask_b.shape)}")
    a, b = mask_a.reshape(-1).bool(), mask_b.reshape(-1).bool()
    na, nb = int(a.sum()), int(b.sum())
    if na == 0 or nb == 0:
        return 0.0
    return int((a & b).sum()) / math.sqrt(na * nb)


def _check_layers(masks_a: Sequence[torch.Tensor], masks_b: Sequence[torch.Tensor], name: str) -> None:
    if len(masks_a) != len(masks_b):
        raise ValueError(f"{name}: {len(masks_a)} layers against {len(masks_b)}")
    if not masks_a:
        raise ValueError(f"{name}: no layers")


def on_by_layer(masks_a: Sequence[torch.Tensor], masks_b: Sequence[torch.Tensor]) -> list[float]:
    """ON of each layer: [on_overlap(masks_a[k], masks_b[k]) for each layer k] (lists of per-layer masks)."""
    _check_layers(masks_a, masks_b, "on_by_layer")
    return [on_overlap(a, b) for a, b in zip(masks_a, masks_b)]


def _cat(masks: Sequence[torch.Tensor]) -> torch.Tensor:
    return torch.cat([m.reshape(-1).bool() for m in masks])


def on_all(masks_a: Sequence[torch.Tensor], masks_b: Sequence[torch.Tensor]) -> float:
    """ON over all layers at once: the masks of every layer concatenated, then `on_overlap`."""
    _check_layers(masks_a, masks_b, "on_all")
    return on_overlap(_cat(masks_a), _cat(masks_b))


def on_windows(masks_a: Sequence[torch.Tensor], masks_b: Sequence[torch.Tensor], window: int) -> list[float]:
    """ON over consecutive, non-overlapping windows of `window` layers: layers [0, w), [w, 2w), ... (the last
    window may be shorter). The paper reports ON over windows of 3 layers this way."""
    _check_layers(masks_a, masks_b, "on_windows")
    if window < 1:
        raise ValueError(f"on_windows: window {window} must be >= 1")
    return [on_all(masks_a[s:s + window], masks_b[s:s + window]) for s in range(0, len(masks_a), window)]


def thirds(n_layers: int) -> tuple[slice, slice]:
    """(first third, last third) of `n_layers` layers, each max(1, n_layers // 3) layers long."""
    k = max(1, n_layers // 3)
    return slice(0, k), slice(n_layers - k, n_layers)


# ---------------------------------------------------------------------------------------------------------
# Activation capture
# ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FFNSite:
    """Where one stack's feed-forward activations live, relative to `backbone.base_model`.

    stack: dotted path to the ModuleList of layers; module: dotted path inside one layer to the module whose
    *output* is the first feed-forward layer after its nonlinearity (negative integers index from the end);
    part: "encoder" or "decoder" (which positions are recorded).
    """

    stack: str
    module: str
    part: str


_T5 = (FFNSite("encoder.block", "layer.-1.DenseReluDense.act", "encoder"),
       FFNSite("decoder.block", "layer.-1.DenseReluDense.act", "decoder"))
_BERT = (FFNSite("encoder.layer", "intermediate", "encoder"),)

FFN_SITES: dict[str, tuple[FFNSite, ...]] = {
    # T5 / T5 v1.1 / LM-adapted T5 / mT5: the `act` module of T5DenseActDense (ReLU) or T5DenseGatedActDense
    # (gated GELU: act(wi_0 x), before the product with wi_1 x); encoder blocks, then decoder blocks.
    "t5": _T5,
    "mt5": _T5,
    # BERT-style encoders: `intermediate` returns act(dense(x)) (GELU).
    "bert": _BERT,
    "roberta": _BERT,
    "xlm-roberta": _BERT,
}
"""The one table of where each model type's FFN activations are read (keyed by config.model_type)."""


def _resolve(root: nn.Module, dotted: str) -> nn.Module:
    mod = root
    for part in dotted.split("."):
        mod = mod[int(part)] if part.lstrip("-").isdigit() else getattr(mod, part)
    return mod


def ffn_modules(backbone: nn.Module) -> list[tuple[str, str, nn.Module]]:
    """(qualified name under base_model, part, module) of every FFN activation site, in layer order.

    Unknown model types are refused with the list of supported ones.
    """
    model_type = backbone.config.model_type
    if model_type not in FFN_SITES:
        raise PttError(f"activated-neuron indicators: model type {model_type!r} has no entry in the FFN table; "
                       f"supported: {', '.join(FFN_SITES)}")
    base = backbone.base_model
    names = {id(m): n for n, m in base.named_modules()}
    out = []
    for site in FFN_SITES[model_type]:
        for layer in _resolve(base, site.stack):
            module = _resolve(layer, site.module)
            out.append((names[id(module)], site.part, module))
    return out


def _probe_batch(session) -> tuple[dict[str, torch.Tensor], dict[str, list[int]]]:
    """The prompt's companion input (framed like training inputs, with an empty text) and the recorded positions
    per part, counted in the prompted sequence (prompt first).

    seq2seq: input [</s>]; encoder: every position (the L prompt vectors and the one token); decoder: its first
    (only) step. masked_lm: [<s>, <mask>, </s>], the <mask> position. encoder family: [CLS, SEP], the CLS position.
    """
    from ptt.encode import collate, encode_texts

    row = encode_texts(session.tokenizer, [""], session.family, session.cfg.max_length)[0]
    batch = collate([{**row, "label": 0}], session.tokenizer.pad_token_id)
    n_prompt = session.model.prompt.length
    if session.family == "seq2seq":
        picks = {"encoder": list(range(n_prompt + len(row["input_ids"]))), "decoder": [0]}
    elif session.family == "masked_lm":
        picks = {"encoder": [n_prompt + row["mask_pos"]]}
    else:
        picks = {"encoder": [n_prompt]}
    return batch, picks


@contextlib.contextmanager
def _prompt_swapped(session, prompt: torch.Tensor):
    """The session scores `prompt`; its own prompt values come back afterwards (every rank enters)."""
    from ptt.prompt import gathered

    param = session.model.prompt.weight
    want = (session.model.prompt.length, session.model.prompt.hidden_size)
    if tuple(prompt.shape) != want:
        raise PttError(f"--prompts: a prompt of shape {tuple(prompt.shape)} in a session built for {want}; "
                       "compare prompts of one backbone and one length")
    with gathered([param]):
        saved = param.detach().clone().cpu()
    session.load_prompt_for_scoring(prompt)
    try:
        yield
    finally:
        session.load_prompt_for_scoring(saved)


def activation_masks(session, prompt: torch.Tensor) -> list[torch.Tensor]:
    """Which FFN neurons `prompt` activates in the session's frozen backbone (every rank calls this).

    The prompt plus one token (see `_probe_batch`) runs through `session.engine`, the same forward as scoring;
    forward hooks on the `FFN_SITES` modules keep the first call's output of each, which is then binarized
    at > 0 at the recorded positions. Under ZeRO-3 this works unchanged: DeepSpeed's own module hooks gather
    each partitioned weight before its module runs, and activations are never partitioned, so our hooks see
    the full [B, T, F] outputs on every rank. The session's own prompt is restored afterwards.

    Args:
        session: a `ptt.session.Session` (e.g. `open_session(cfg, need_train_data=False)`).
        prompt: [L, H] with the session's prompt length and hidden size.
    Returns:
        One bool tensor [P, F] per FFN layer, in layer order (T5: encoder layers, then decoder layers). P is the
        number of recorded positions: T5 encoder L + 1, T5 decoder 1, masked_lm 1 (<mask>), encoder 1 (CLS).
    """
    from ptt.evaluate import forward

    sites = ffn_modules(session.model.backbone)
    batch, picks = _probe_batch(session)
    captured: list[torch.Tensor | None] = [None] * len(sites)

    def keep(i: int):
        def hook(_module, _args, output):
            if captured[i] is None:  # first call only: the encoder family encodes its label texts after
                captured[i] = output.detach()
        return hook

    handles = [module.register_forward_hook(keep(i)) for i, (_, _, module) in enumerate(sites)]
    try:
        with _prompt_swapped(session, prompt), torch.no_grad():
            forward(session, batch)
    finally:
        for h in handles:
            h.remove()
    masks = []
    for (name, part, _), out in zip(sites, captured):
        if out is None:
            raise RuntimeError(f"activation_masks: no activation was recorded at {name}")
        masks.append((out[0, picks[part]] > 0).cpu())
    return masks


def indicator_matrices(session, prompts: Sequence[torch.Tensor]) -> dict[str, Matrix]:
    """Every indicator's [N][N] matrix over `prompts` (N tensors [L, H] of the session's backbone and length).

    Keys: the `INDICATORS` names; `on_all` (ON over all FFN layers); `on_first_third`, `on_last_third`
    (ON over the first / last third of the layers in `activation_masks` order, see `thirds`). Every rank calls
    this; the values are plain floats (json-ready).
    """
    if not prompts:
        raise PttError("--prompts: give at least one prompt artifact")
    out = {name: similarity_matrix(prompts, fn) for name, fn in INDICATORS.items()}
    masks = [activation_masks(session, p) for p in prompts]
    first, last = thirds(len(masks[0]))
    on = {"on_all": on_all,
          "on_first_third": lambda a, b: on_all(a[first], b[first]),
          "on_last_third": lambda a, b: on_all(a[last], b[last])}
    out.update({name: similarity_matrix(masks, fn) for name, fn in on.items()})
    return out


# ---------------------------------------------------------------------------------------------------------
# Rank correlation (pure; no scipy)
# ---------------------------------------------------------------------------------------------------------

def rankdata(x: Sequence[float]) -> list[float]:
    """1-based ranks, ties given the average of the ranks they span (scipy's 'average')."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    ranks = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _check_xy(x: Sequence[float], y: Sequence[float], name: str) -> None:
    if len(x) != len(y):
        raise ValueError(f"{name}: {len(x)} values against {len(y)}")


def _pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho: Pearson correlation of the average ranks. None when undefined (fewer than 2 values, or
    one side constant)."""
    _check_xy(x, y, "spearman")
    if len(x) < 2:
        return None
    return _pearson(rankdata(x), rankdata(y))


def kendall(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b: (C - D) / sqrt((n0 - n1)(n0 - n2)), n0 = n(n-1)/2 pairs, n1 / n2 = pairs tied in x / y.
    None when undefined (fewer than 2 values, or one side constant)."""
    _check_xy(x, y, "kendall")
    n = len(x)
    if n < 2:
        return None
    concordant = discordant = tied_x = tied_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0:
                tied_x += 1
            if dy == 0:
                tied_y += 1
            if dx and dy:
                if (dx > 0) == (dy > 0):
                    concordant += 1
                else:
                    discordant += 1
    n0 = n * (n - 1) // 2
    denom = math.sqrt((n0 - tied_x) * (n0 - tied_y))
    return None if denom == 0 else (concordant - discordant) / denom


def own_prompt_index(task: str, prompts: Sequence[str]) -> int | None:
    """Index of target `task`'s own prompt among prompt labels (`ptt.transfer.row_labels` names): the label equal
    to the task, else the first numbered one (`task#1`), as matrix.json's own_prompt picks the first source
    trained on the task. None when no prompt of that task is present."""
    if task in prompts:
        return list(prompts).index(task)
    return next((i for i, p in enumerate(prompts) if p.split("#")[0] == task), None)


def correlate(indicator_matrix: Sequence[Sequence[float]], transfer_values: Sequence[Sequence[float | None]],
              rows: Sequence[str], cols: Sequence[str], prompts: Sequence[str] | None = None, *,
              include_self: bool = False) -> dict:
    """Rank correlation between an indicator and transfer results.

    Args:
        indicator_matrix: [R][P]; entry (i, j) is the indicator between source prompt rows[i] and prompt
            prompts[j] (a square matrix over the same prompts when `prompts` is None).
        transfer_values: [R][C]; entry (i, j) is source rows[i]'s result on target task cols[j], as in
            matrix.json (`values`, or `relative` as in the paper; None entries are skipped).
        rows: R source-prompt labels (matrix.json `rows` without the random row).
        cols: C target task names (matrix.json `tasks`).
        prompts: P labels of the indicator matrix's columns (default: rows).
        include_self: also pair a target task's own prompt with itself (indicator 1 by construction; left out by
            default so it cannot inflate the correlation).

    Pairing rule: target task t is represented by its own prompt p_t (`own_prompt_index`). Each source row i
    gives one pair (x, y) = (indicator_matrix[i][p_t], transfer_values[i][t]): how similar the source prompt is
    to the prompt trained on the target, against how well the source transfers to the target. Targets without
    their own prompt among `prompts` give no pairs.

    Returns:
        {"per_task": {t: {"own_prompt", "n", "spearman", "kendall"}}, "pooled": {"n", "spearman", "kendall"},
         "pairs": [{"source", "target", "indicator", "transfer"}]}; a correlation is None where undefined
        (fewer than 2 pairs, or constant values). Per task the correlation runs over its sources; pooled runs
        over all pairs of all tasks.
    """
    prompts = list(rows) if prompts is None else list(prompts)
    if len(indicator_matrix) != len(rows) or any(len(r) != len(prompts) for r in indicator_matrix):
        raise ValueError(f"correlate: indicator matrix must be {len(rows)} x {len(prompts)}")
    if len(transfer_values) != len(rows) or any(len(r) != len(cols) for r in transfer_values):
        raise ValueError(f"correlate: transfer values must be {len(rows)} x {len(cols)}")
    per_task, pairs = {}, []
    for j, task in enumerate(cols):
        k = own_prompt_index(task, prompts)
        xs, ys = [], []
        if k is not None:
            for i, source in enumerate(rows):
                y = transfer_values[i][j]
                if y is None or (source == prompts[k] and not include_self):
                    continue
                xs.append(float(indicator_matrix[i][k]))
                ys.append(float(y))
                pairs.append({"source": source, "target": task, "indicator": xs[-1], "transfer": ys[-1]})
        per_task[task] = {"own_prompt": prompts[k] if k is not None else None, "n": len(xs),
                          "spearman": spearman(xs, ys), "kendall": kendall(xs, ys)}
    xs, ys = [p["indicator"] for p in pairs], [p["transfer"] for p in pairs]
    pooled = {"n": len(pairs), "spearman": spearman(xs, ys), "kendall": kendall(xs, ys)}
    return {"per_task": per_task, "pooled": pooled, "pairs": pairs}
