"""causal_lm: decoder-only LMs (GPT-2, Llama, Qwen2, Mistral, ... any `AutoModelForCausalLM`).

The prompt goes in front of the input embeddings. A label is scored by rank classification: the logits of the
label words' first tokens at the last attended position (the one that follows the task's template), with the
LM head run at that position only. Position ids follow the attention mask, so a row's scores are the same
under left or right padding and alone or in a batch.
"""

from __future__ import annotations

import torch

from ptt.families.base import Family, FFNSite, LabelSpec, Probe, is_decoder_only, plain_encode, word_labels

# gated MLPs (Llama, Qwen2, Mistral): act_fn(gate_proj x), before the product with up_proj x; GPT-2: act(c_fc x)
GATED_FFN = (FFNSite("layers", "mlp.act_fn", "decoder"),)
GPT2_FFN = (FFNSite("h", "mlp.act", "decoder"),)


def claims(config) -> bool:
    return is_decoder_only(config)


def last_positions(mask: torch.Tensor) -> torch.Tensor:
    """[B] index of each row's last attended position (right or left padding alike)."""
    index = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return (index * mask.long()).argmax(1)


def score(backbone, embeds: torch.Tensor, mask: torch.Tensor, n_prompt: int, labels: LabelSpec,
          **_) -> torch.Tensor:
    """[B, C]: LM-head logits of the label words at each row's last attended position."""
    positions = (mask.long().cumsum(1) - 1).clamp(min=0)
    hidden = backbone.base_model(inputs_embeds=embeds, attention_mask=mask, position_ids=positions).last_hidden_state
    last = hidden[torch.arange(hidden.shape[0], device=hidden.device), last_positions(mask)]
    return backbone.get_output_embeddings()(last)[:, labels.ids].float()  # the head runs at one position per row


def probe(tokenizer, max_length: int, n_prompt: int) -> Probe:
    """Input: one token (the tokenizer's BOS, else EOS); the last position."""
    token = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    row = {"input_ids": [token]}
    return Probe(row, {"decoder": [n_prompt]}, LabelSpec(ids=torch.as_tensor([token])))


FAMILY = Family(
    name="causal_lm", auto_class="AutoModelForCausalLM", claims=claims, encode=plain_encode, label_spec=word_labels,
    score=score, probe=probe,
    ffn_sites={"gpt2": GPT2_FFN, "llama": GATED_FFN, "qwen2": GATED_FFN, "mistral": GATED_FFN},
    peft_task_type="CAUSAL_LM", words_like="seq2seq",
)
