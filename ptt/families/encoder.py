"""encoder: encoders with no LM head (the bundled MiniLM, any BERT-style `AutoModel`).

A label is scored by COSINE_SCALE x the cosine between the mean-pooled text positions of the prompted input
and each label word's pooled encoding (a frozen, parameter-free verbalizer). The prompt acts through
attention only: its own positions are left out of the pool.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from ptt.families.base import BERT_FFN, Family, LabelSpec, Probe, mean_pool, plain_encode

COSINE_SCALE = 20.0  # a temperature that lets softmax saturate


def claims(config) -> bool:
    return True  # the fallback: checked last, after every family with a more specific claim


def label_spec(tokenizer, words: Sequence[str]) -> LabelSpec:
    """The label words as texts, encoded once by the frozen backbone at first use."""
    enc = tokenizer(list(words), padding=True, return_tensors="pt")
    return LabelSpec(inputs=(enc["input_ids"], enc["attention_mask"]))


def label_vectors(backbone, labels: LabelSpec) -> torch.Tensor:
    """[C, H] unit vectors of the label texts (no prompt), computed once per LabelSpec."""
    if "vectors" not in labels.cache:
        ids, mask = labels.inputs
        with torch.no_grad():
            hidden = backbone(input_ids=ids, attention_mask=mask).last_hidden_state
            labels.cache["vectors"] = F.normalize(mean_pool(hidden, mask).float(), dim=-1)
    return labels.cache["vectors"]


def score(backbone, embeds: torch.Tensor, mask: torch.Tensor, n_prompt: int, labels: LabelSpec,
          **_) -> torch.Tensor:
    """[B, C]: scaled cosine of the pooled text positions and each label vector."""
    hidden = backbone(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
    text_mask = mask.clone()
    text_mask[:, :n_prompt] = 0  # pool the text positions: the prompt acts through attention
    pooled = mean_pool(hidden, text_mask)
    return COSINE_SCALE * F.normalize(pooled.float(), dim=-1) @ label_vectors(backbone, labels).T


def probe(tokenizer, max_length: int, n_prompt: int) -> Probe:
    """Input [CLS, SEP]; the CLS position."""
    row = plain_encode(tokenizer, [""], max_length)[0]
    ids = torch.as_tensor([row["input_ids"]])
    labels = LabelSpec(inputs=(ids, torch.ones_like(ids)))  # any text: the verbalizer is not what is probed
    return Probe(row, {"encoder": [n_prompt]}, labels)


FAMILY = Family(
    name="encoder", auto_class="AutoModel", claims=claims, encode=plain_encode, label_spec=label_spec, score=score,
    probe=probe, ffn_sites={"bert": BERT_FFN, "roberta": BERT_FFN, "xlm-roberta": BERT_FFN},
    peft_task_type="FEATURE_EXTRACTION",
)
