"""causal_lm: decoder-only LMs (GPT-2, Llama, Qwen2, Mistral, ... any `AutoModelForCausalLM`).

The prompt goes in front of the input embeddings. A label is scored by rank classification: the logits of the
label words' first tokens at the last attended position (the one that follows the task's template), with the
LM head run at that position only. Position ids follow the attention mask, so a row's scores are the same
under left or right padding and alone or in a batch. A causal model's prompt positions attend only to the prompt,
so rows that read the same prompt have the same hidden states and keys/values there: the prompt runs once per
distinct prompt and its key/value cache is shared by the batch (`prompted_hidden`), forward and backward. Generation tasks train on the target tokens that follow
the source (teacher forcing, the LM head only where a target token is predicted) and decode greedily with the
key/value cache.
"""

from __future__ import annotations

import functools
import inspect

import torch

from ptt.families.base import (Family, FFNSite, LabelSpec, Probe, encode_pairs, greedy, is_decoder_only, plain_encode,
                               word_labels)

# gated MLPs (Llama, Qwen2, Mistral): act_fn(gate_proj x), before the product with up_proj x; GPT-2: act(c_fc x)
GATED_FFN = (FFNSite("layers", "mlp.act_fn", "decoder"),)
GPT2_FFN = (FFNSite("h", "mlp.act", "decoder"),)


def claims(config) -> bool:
    return is_decoder_only(config)


def last_positions(mask: torch.Tensor) -> torch.Tensor:
    """[B] index of each row's last attended position (right or left padding alike)."""
    index = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return (index * mask.long()).argmax(1)


def cache_arg(body) -> str:
    """The keyword a transformers model takes its key/value cache by (`cache` since transformers 5.2x, before
    that `past_key_values`), read once per model class."""
    return _cache_arg(type(body))


@functools.cache
def _cache_arg(cls) -> str:
    return "cache" if "cache" in inspect.signature(cls.forward).parameters else "past_key_values"


def output_cache(out):
    return out.cache if getattr(out, "cache", None) is not None else out.past_key_values


def prompted_hidden(backbone, embeds: torch.Tensor, mask: torch.Tensor, n_prompt: int, groups: int) -> torch.Tensor:
    """Last hidden states [B, L+T, H] of prompted rows (the prompt in the first n_prompt positions, always attended;
    positions follow the mask).

    With groups G < B (block g of B / G consecutive rows reads prompt g) the G prompts run alone, and their
    key/value cache, repeated to the B rows, is what the rows' tokens attend to: the prompt's positions are
    computed G times instead of B times. Equal to running the whole rows up to floating-point rounding; gradients
    reach the prompt through the cache. Without sharing (G = B, which `PromptModel` passes while checkpointed layers
    recompute, or no prompt) the rows run whole."""
    body = backbone.base_model
    positions = (mask.long().cumsum(1) - 1).clamp(min=0)
    batch = embeds.shape[0]
    if not 0 < groups < batch or n_prompt == 0 or embeds.shape[1] == n_prompt:
        return body(inputs_embeds=embeds, attention_mask=mask, position_ids=positions, use_cache=False).last_hidden_state
    per = batch // groups
    first = body(inputs_embeds=embeds[::per, :n_prompt], attention_mask=mask[::per, :n_prompt],
                 position_ids=positions[::per, :n_prompt], use_cache=True)
    cache = output_cache(first)
    cache.batch_repeat_interleave(per)
    rest = body(inputs_embeds=embeds[:, n_prompt:], attention_mask=mask, position_ids=positions[:, n_prompt:],
                use_cache=True, **{cache_arg(body): cache})
    return torch.cat([first.last_hidden_state.repeat_interleave(per, dim=0), rest.last_hidden_state], dim=1)


def score(backbone, embeds: torch.Tensor, mask: torch.Tensor, n_prompt: int, labels: LabelSpec, groups: int = 0,
          **_) -> torch.Tensor:
    """[B, C]: LM-head logits of the label words at each row's last attended position."""
    hidden = prompted_hidden(backbone, embeds, mask, n_prompt, groups)
    last = hidden[torch.arange(hidden.shape[0], device=hidden.device), last_positions(mask)]
    return backbone.get_output_embeddings()(last)[:, labels.ids].float()  # the head runs at one position per row


def encode(tokenizer, sources, targets, max_source: int, max_target: int) -> list[dict]:
    """Source and target ids; the target is read as words that continue the source (a leading space)."""
    return encode_pairs(tokenizer, sources, targets, max_source, max_target, target_prefix=" ")


def lm_loss(backbone, embeds: torch.Tensor, mask: torch.Tensor, n_prompt: int, target_ids: torch.Tensor,
            target_mask: torch.Tensor, groups: int = 0) -> torch.Tensor:
    """Teacher-forced cross-entropy of the target tokens only: each row reads [prompt, source, target]; the LM head
    runs only at the positions that predict a target token."""
    target_embeds = backbone.get_input_embeddings()(target_ids)
    lengths, t_lengths = mask.sum(1).tolist(), target_mask.sum(1).tolist()
    rows = [torch.cat([embeds[i, :s], target_embeds[i, :t]]) for i, (s, t) in enumerate(zip(lengths, t_lengths))]
    width = max(r.shape[0] for r in rows)
    x = embeds.new_zeros(len(rows), width, embeds.shape[-1])
    full_mask = mask.new_zeros(len(rows), width)
    for i, r in enumerate(rows):
        x[i, :r.shape[0]], full_mask[i, :r.shape[0]] = r, 1
    hidden = prompted_hidden(backbone, x, full_mask, n_prompt, groups)
    # position s - 1 + j predicts target token j (the last source token predicts the first target token)
    row_idx = torch.cat([torch.full((t,), i) for i, t in enumerate(t_lengths)]).to(hidden.device)
    col_idx = torch.cat([torch.arange(t) + s - 1 for s, t in zip(lengths, t_lengths)]).to(hidden.device)
    logits = backbone.get_output_embeddings()(hidden[row_idx, col_idx]).float()
    return torch.nn.functional.cross_entropy(logits, target_ids[target_mask.bool()])


def left_aligned(embeds: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's unattended positions to the front, wherever they are (right padding, or the padding between
    a prompt and a left-padded input), keeping the attended ones in order: every row's last token is then the last
    column and its tokens are contiguous."""
    order = torch.sort(mask.long(), dim=1, stable=True).indices  # zeros first, each group in its original order
    return embeds.gather(1, order[..., None].expand_as(embeds)), mask.gather(1, order)


def generate(backbone, embeds: torch.Tensor, mask: torch.Tensor, max_new_tokens: int, eos_id: int, pad_id: int,
             use_cache: bool = True, synced: bool = False, steps: list | None = None) -> torch.Tensor:
    """[B, N] greedy tokens after the prompted input, left-aligned so that all rows decode in step; with its
    key/value cache, or re-reading the whole sequence at every step with use_cache False."""
    embeds, mask = left_aligned(embeds, mask)
    body, head, table = backbone.base_model, backbone.get_output_embeddings(), backbone.get_input_embeddings()
    state = {"x": embeds, "mask": mask, "pos": (mask.cumsum(1) - 1).clamp(min=0), "past": None}

    cache = cache_arg(body)

    def run(x, positions):
        out = body(inputs_embeds=x, attention_mask=state["mask"], position_ids=positions,
                   use_cache=use_cache, **{cache: state["past"]})
        state["past"] = output_cache(out) if use_cache else None
        return head(out.last_hidden_state[:, -1])

    def advance(nxt):
        step = table(nxt)[:, None]
        state["mask"] = torch.cat([state["mask"], state["mask"].new_ones(len(nxt), 1)], dim=1)
        state["pos"] = torch.cat([state["pos"], state["pos"][:, -1:] + 1], dim=1)
        if use_cache:
            return run(step, state["pos"][:, -1:])
        state["x"] = torch.cat([state["x"], step], dim=1)
        return run(state["x"], state["pos"])

    return greedy(run(embeds, state["pos"]), advance, max_new_tokens, eos_id, pad_id, synced, steps)


def probe(tokenizer, max_length: int, n_prompt: int) -> Probe:
    """Input: one token (the tokenizer's BOS, else EOS); the last position."""
    token = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    row = {"input_ids": [token]}
    return Probe(row, {"decoder": [n_prompt]}, LabelSpec(ids=torch.as_tensor([token])))


FAMILY = Family(
    name="causal_lm", auto_class="AutoModelForCausalLM", claims=claims, encode=plain_encode, label_spec=word_labels,
    score=score, probe=probe,
    ffn_sites={"gpt2": GPT2_FFN, "llama": GATED_FFN, "qwen2": GATED_FFN, "mistral": GATED_FFN},
    peft_task_type="CAUSAL_LM", words_like="seq2seq", encode_pair=encode, lm_loss=lm_loss, generate=generate,
)
