"""Backbone families: detection from a config (decoder-only checkpoints go to causal_lm), and each family's scorer against
class scores computed independently (the frozen backbone run by hand on the prepended embeddings)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from transformers import (AutoModel, AutoModelForMaskedLM, AutoModelForSeq2SeqLM, GPT2Config,
                          LlamaConfig)

from ptt.config import ScoreConfig
from ptt.core.encode import collate
from ptt.core.tasks import get_task
from ptt.families import detect_family, is_decoder_only
from ptt.families.base import label_token_ids
from ptt.families.loading import load_config
from ptt.scoring import open_scorer

L = 5


@pytest.fixture(scope="module")
def decoder_only(causal) -> dict[str, str]:  # noqa: F811
    """Tiny GPT-2- and Llama-shaped causal LMs built from config (see test_causal_lm)."""
    return causal


@pytest.mark.parametrize("kind,family", [("t5", "seq2seq"), ("roberta", "masked_lm"), ("bert", "encoder"),
                                         ("bert_mlm", "masked_lm")])
def test_family_detected_from_config(tiny_models, kind, family):
    assert detect_family(load_config(tiny_models[kind])).name == family


def test_decoder_only_configs_are_recognised_with_and_without_architectures(decoder_only, tiny_models):
    for path in decoder_only.values():
        assert is_decoder_only(load_config(path))
    assert is_decoder_only(LlamaConfig()) and is_decoder_only(GPT2Config())  # no architectures recorded
    assert detect_family(LlamaConfig()).name == detect_family(GPT2Config()).name == "causal_lm"
    for kind in ("t5", "roberta", "bert", "bert_mlm"):
        assert not is_decoder_only(load_config(tiny_models[kind]))


def _scored(tiny_models, kind: str):
    """The family scorer's class scores of a batch of real SST-2 rows of different lengths under a prompt far from
    any embedding; returns (scores, task, batch, prompt, tokenizer)."""
    scorer = open_scorer(ScoreConfig(backbone=tiny_models[kind], precision="fp32", max_eval_examples=8), L)
    try:
        task = get_task("sst2")
        rows = scorer.rows(task, "eval")
        assert len({len(r["input_ids"]) for r in rows}) > 1  # padding is exercised
        batch = collate(rows, scorer.tokenizer.pad_token_id)
        prompt = torch.randn(L, scorer.frozen.hidden, generator=torch.Generator().manual_seed(1)) * 3
        return scorer.scores(batch, scorer.labels(task), prompt), task, batch, prompt, scorer.tokenizer
    finally:
        scorer.close()


def _prepended(model, batch, prompt):
    embeds = model.get_input_embeddings()(batch["input_ids"])
    b = embeds.shape[0]
    x = torch.cat([prompt.unsqueeze(0).expand(b, -1, -1), embeds], dim=1)
    mask = torch.cat([torch.ones(b, L, dtype=batch["attention_mask"].dtype), batch["attention_mask"]], dim=1)
    return x, mask


def test_seq2seq_scores_equal_the_decoder_first_step_by_hand(tiny_models):
    got, task, batch, prompt, tok = _scored(tiny_models, "t5")
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_models["t5"]).eval()
    x, mask = _prepended(model, batch, prompt)
    start = torch.full((x.shape[0], 1), model.config.decoder_start_token_id)
    with torch.no_grad():
        logits = model(inputs_embeds=x, attention_mask=mask, decoder_input_ids=start).logits[:, 0]
    want = logits[:, label_token_ids(tok, task.label_words["seq2seq"])]
    assert torch.allclose(got, want, atol=1e-5), (got, want)


def test_masked_lm_scores_equal_the_full_mlm_logits_at_the_shifted_mask(tiny_models):
    got, task, batch, prompt, tok = _scored(tiny_models, "roberta")
    model = AutoModelForMaskedLM.from_pretrained(tiny_models["roberta"]).eval()
    x, mask = _prepended(model, batch, prompt)
    with torch.no_grad():
        logits = model(inputs_embeds=x, attention_mask=mask).logits  # the head at every position
    slot = (batch["input_ids"] == tok.mask_token_id).float().argmax(1) + L  # the <mask> after the prompt
    want = logits[torch.arange(len(slot)), slot][:, label_token_ids(tok, task.label_words["masked_lm"])]
    assert torch.allclose(got, want, atol=1e-5), (got, want)


def test_encoder_scores_equal_the_cosine_of_pooled_text_positions(tiny_models):
    got, task, batch, prompt, tok = _scored(tiny_models, "bert")
    model = AutoModel.from_pretrained(tiny_models["bert"]).eval()
    x, mask = _prepended(model, batch, prompt)
    with torch.no_grad():
        hidden = model(inputs_embeds=x, attention_mask=mask).last_hidden_state[:, L:]  # text positions only
        text_mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * text_mask).sum(1) / text_mask.sum(1)
        words = tok(list(task.label_words["encoder"]), padding=True, return_tensors="pt")
        label_hidden = model(**words).last_hidden_state
        lm = words["attention_mask"].unsqueeze(-1).float()
        label_vecs = (label_hidden * lm).sum(1) / lm.sum(1)
    want = 20.0 * F.normalize(pooled, dim=-1) @ F.normalize(label_vecs, dim=-1).T
    assert torch.allclose(got, want, atol=1e-4), (got, want)
