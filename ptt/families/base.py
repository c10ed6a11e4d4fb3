"""The family protocol: everything that differs between backbone families, in one record per family.

A family decides how its checkpoints are recognised and loaded, how a row is encoded, how a task's labels
are turned into something it can score, how a prompted batch becomes class scores [B, C], where the
indicators probe it, and how its prompts are exchanged with PEFT. Each family is one module that builds a
`Family`; `ptt.families` registers them in one table. Nothing else in ptt branches on a family's name.

Shapes: B = batch, T = tokens, L = prompt length, H = hidden size, C = classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from ptt.errors import PttError
from ptt.runtime import dist


@dataclass(frozen=True)
class FFNSite:
    """Where one stack's feed-forward activations live, relative to `backbone.base_model`.

    stack: dotted path to the ModuleList of layers; module: dotted path inside one layer to the module whose
    *output* is the first feed-forward layer after its nonlinearity (negative integers index from the end);
    part: which recorded positions apply (a key of `Probe.positions`).
    """

    stack: str
    module: str
    part: str


BERT_FFN = (FFNSite("encoder.layer", "intermediate", "encoder"),)
"""BERT-style encoders: `intermediate` returns act(dense(x)) (GELU)."""


@dataclass
class LabelSpec:
    """A task's labels as one family scores them with one tokenizer.

    ids: [C] first-token ids of the label words (families that read label-word logits).
    inputs: (ids [C, T], mask [C, T]) of the label verbalizer texts (families that compare encodings).
    cache: per-spec values a family computes once (e.g. the encoded label vectors).
    """

    ids: torch.Tensor | None = None
    inputs: tuple[torch.Tensor, torch.Tensor] | None = None
    cache: dict[str, Any] = field(default_factory=dict)

    def to(self, device: torch.device) -> "LabelSpec":
        ids = self.ids.to(device) if self.ids is not None else None
        inputs = tuple(t.to(device) for t in self.inputs) if self.inputs is not None else None
        return LabelSpec(ids, inputs)


@dataclass(frozen=True)
class Probe:
    """The companion input of an indicator probe: one encoded row (an empty text, framed like training
    inputs) and, per part, the positions recorded, counted in the prompted sequence (prompt first)."""

    row: dict
    positions: dict[str, list[int]]
    labels: LabelSpec
    """Labels the family's scorer can run with; the probe reads activations, not class scores."""


@dataclass(frozen=True)
class Family:
    """One backbone family. Every field is a plain value or a function; see the family modules."""

    name: str
    auto_class: str
    """Name of the `transformers` Auto class that loads it (e.g. "AutoModelForSeq2SeqLM")."""
    claims: Callable[[Any], bool]
    """config -> whether a checkpoint with this config belongs to the family."""
    encode: Callable[[Any, Sequence[str], int], list[dict]]
    """(tokenizer, rendered texts, max_length) -> rows with input_ids (+ family extras such as mask_pos)."""
    label_spec: Callable[[Any, Sequence[str]], LabelSpec]
    """(tokenizer, label words) -> LabelSpec."""
    score: Callable[..., torch.Tensor]
    """(backbone, embeds [B, T, H], mask [B, T], n_prompt, labels, groups=G, **row extras) -> class scores [B, C]
    fp32. groups: how many distinct prompts the rows read (block g of B / G consecutive rows reads prompt g; 0: no
    prompt), which a family may use to compute a shared prompt once (causal_lm); the others ignore it."""
    probe: Callable[[Any, int, int], Probe]
    """(tokenizer, max_length, prompt length) -> the indicator probe."""
    ffn_sites: dict[str, tuple[FFNSite, ...]]
    """config.model_type -> where the FFN activations are read (ON indicators)."""
    peft_task_type: str
    """PEFT task_type of an exported adapter."""
    peft_submodules: int = 1
    """PEFT's num_transformer_submodules for that task type (rows of the prompt are repeated per block)."""
    words_like: str | None = None
    """Task-table verbalizer to use when a task names no words for this family (a family's name)."""
    encode_pair: Callable[..., list[dict]] | None = None
    """Generation: (tokenizer, sources, targets, max_source, max_target) -> rows with input_ids and target_ids;
    None for a family that cannot generate."""
    lm_loss: Callable[..., torch.Tensor] | None = None
    """Generation: (backbone, embeds, mask, n_prompt, target_ids, target_mask, groups=G) -> mean cross-entropy over
    the target tokens only (teacher forcing); groups as for `score`."""
    generate: Callable[..., torch.Tensor] | None = None
    """Generation: (backbone, embeds, mask, max_new_tokens, eos_id, pad_id, use_cache, synced, steps) -> [B, N]
    greedy token ids (steps: an optional list that receives every step's logits, see `greedy`)."""

    def load_class(self):
        import transformers

        return getattr(transformers, self.auto_class)


def label_token_ids(tokenizer, words: Sequence[str], flag: str = "--task") -> list[int]:
    """First sub-token id of each label word (with a leading space, as inside a sentence); must be distinct."""
    ids = []
    for w in words:
        pieces = tokenizer(" " + w, add_special_tokens=False)["input_ids"]
        tokens = tokenizer.convert_ids_to_tokens(pieces)
        while len(pieces) > 1 and tokens[0] in ("▁", "Ġ", " "):  # a bare word-start piece carries no label
            pieces, tokens = pieces[1:], tokens[1:]
        if not pieces:
            raise PttError(f"{flag}: label word {w!r} tokenizes to nothing with this backbone's tokenizer")
        ids.append(pieces[0])
    if len(set(ids)) != len(ids):
        raise PttError(f"{flag}: label words {list(words)} share a first token with this tokenizer; use distinct words")
    return ids


def word_labels(tokenizer, words: Sequence[str]) -> LabelSpec:
    """Labels scored by the logits of their words' first tokens."""
    return LabelSpec(ids=torch.as_tensor(label_token_ids(tokenizer, words)))


def plain_encode(tokenizer, texts: Sequence[str], max_length: int) -> list[dict]:
    """Token ids per text, truncated to max_length (special tokens included)."""
    out = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
    return [{"input_ids": ids} for ids in out]


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """[B, T, H], [B, T] -> [B, H]: mean of the hidden states where mask is 1."""
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1)


def is_decoder_only(config) -> bool:
    """A causal LM with no encoder (GPT-2, Llama, Qwen, Mistral, ...): by its architectures or, for a config
    that names none, by transformers' Auto tables (a causal-LM type with no masked-LM or seq2seq model)."""
    if getattr(config, "is_encoder_decoder", False):
        return False
    archs = config.architectures or []
    if archs:
        return any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs) and \
            not any(a.endswith("ForMaskedLM") for a in archs)
    from transformers.models.auto.modeling_auto import (MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
                                                        MODEL_FOR_MASKED_LM_MAPPING_NAMES)

    kind = config.model_type
    return kind in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and kind not in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def encode_pairs(tokenizer, sources: Sequence[str], targets: Sequence[str], max_source: int, max_target: int,
                 target_prefix: str = "") -> list[dict]:
    """Rows of source ids (truncated to max_source, special tokens included) and target ids (at most max_target,
    ending with EOS)."""
    src = tokenizer(list(sources), truncation=True, max_length=max_source)["input_ids"]
    tgt = tokenizer([target_prefix + t for t in targets], add_special_tokens=False, truncation=True,
                    max_length=max(1, max_target - 1))["input_ids"]
    return [{"input_ids": s, "target_ids": t + [tokenizer.eos_token_id]} for s, t in zip(src, tgt)]


def greedy(first_logits: torch.Tensor, advance: Callable[[torch.Tensor], torch.Tensor], max_new_tokens: int,
           eos_id: int, pad_id: int, synced: bool, steps: list | None = None) -> torch.Tensor:
    """[B, N] greedy tokens: argmax of `first_logits` [B, V], then of `advance(previous tokens [B])` until every
    row has produced EOS (rows that finished emit pad) or max_new_tokens. synced: every rank keeps calling
    `advance` until all ranks are done, so that ZeRO-3's collective parameter gathers stay in step. steps: when
    given, every step's logits [B, V] are appended to it (what each token was chosen from)."""
    done = torch.zeros(first_logits.shape[0], dtype=torch.bool, device=first_logits.device)
    tokens, logits = [], first_logits
    for step in range(max_new_tokens):
        if steps is not None:
            steps.append(logits)
        nxt = torch.where(done, torch.full_like(done, pad_id, dtype=torch.long), logits.argmax(-1))
        tokens.append(nxt)
        done |= nxt == eos_id
        if step + 1 == max_new_tokens or not any_running(done, synced):
            break
        logits = advance(nxt)
    return torch.stack(tokens, dim=1)


def any_running(done: torch.Tensor, synced: bool) -> bool:
    """Whether any row (on any rank, when synced) still decodes."""
    running = torch.tensor([float(not bool(done.all()))], device=done.device)
    if synced and dist.world_size() > 1:
        torch.distributed.all_reduce(running, op=torch.distributed.ReduceOp.MAX)
    return bool(running.item())
