"""masked_lm: encoders with a masked-LM head (RoBERTa, BERT with an MLM head).

Each input ends with a `<mask>` slot that truncation never cuts. A label is scored by the LM head's logit
of its word's first token at that slot; the head runs at the mask slot only, never over every position.
"""

from __future__ import annotations

from typing import Sequence

import torch

from ptt.errors import PttError
from ptt.families.base import BERT_FFN, Family, LabelSpec, Probe, word_labels


def claims(config) -> bool:
    return any(a.endswith("ForMaskedLM") for a in (config.architectures or []))


def encode(tokenizer, texts: Sequence[str], max_length: int) -> list[dict]:
    """Rows of [prefix specials] text <mask> [suffix specials], with mask_pos = the slot's index."""
    mask_id = tokenizer.mask_token_id
    framed = tokenizer(tokenizer.mask_token)["input_ids"]  # e.g. [<s>, <mask>, </s>]: the special-token frame
    cut = framed.index(mask_id)
    prefix, suffix = framed[:cut], framed[cut + 1:]
    bodies = tokenizer(list(texts), add_special_tokens=False, truncation=True,
                       max_length=max_length - len(framed))["input_ids"]
    return [{"input_ids": prefix + body + [mask_id] + suffix, "mask_pos": len(prefix) + len(body)} for body in bodies]


def split(model) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(encoder body, LM head) of a *ForMaskedLM model: the head is the one child that is not the body."""
    body = model.base_model
    heads = [m for n, m in model.named_children() if n != model.base_model_prefix]
    if len(heads) != 1:
        raise PttError(f"--family masked_lm: cannot find the LM head of {type(model).__name__}")
    return body, heads[0]


def score(backbone, embeds: torch.Tensor, mask: torch.Tensor, n_prompt: int, labels, mask_pos=None,
          **_) -> torch.Tensor:
    """[B, C]: LM-head logits of the label words at the `<mask>` slot, shifted by the prompt length."""
    body, head = split(backbone)
    hidden = body(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    at_mask = hidden[torch.arange(hidden.shape[0], device=hidden.device), mask_pos + n_prompt]
    return head(at_mask)[:, labels.ids].float()


def probe(tokenizer, max_length: int, n_prompt: int) -> Probe:
    """Input [<s>, <mask>, </s>]; the `<mask>` position."""
    row = encode(tokenizer, [""], max_length)[0]
    labels = LabelSpec(ids=torch.as_tensor([tokenizer.mask_token_id]))  # any word: the head is not what is probed
    return Probe(row, {"encoder": [n_prompt + row["mask_pos"]]}, labels)


# PEFT has no masked-LM task type: FEATURE_EXTRACTION loads into a plain *ForMaskedLM model and prepends the
# prompt exactly as ptt does.
FAMILY = Family(
    name="masked_lm", auto_class="AutoModelForMaskedLM", claims=claims, encode=encode, label_spec=word_labels,
    score=score, probe=probe, ffn_sites={"bert": BERT_FFN, "roberta": BERT_FFN, "xlm-roberta": BERT_FFN},
    peft_task_type="FEATURE_EXTRACTION",
)
