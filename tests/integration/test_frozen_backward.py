"""The backward pass through a frozen backbone computes activation gradients only: no weight-gradient product is
computed (the profiler counts at most one matrix product per call of a linear layer in the forward, against more
for the same model with trainable weights; a causal LM runs its layers twice, on the shared prompt and on the
rows) and none is kept, in plain PyTorch and after a ZeRO-3 step."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile
from transformers.pytorch_utils import Conv1D

from ptt.backbone import PromptModel
from ptt.core.encode import collate, encode_split
from ptt.core.prompt import SoftPrompt
from ptt.core.tasks import get_task
from ptt.families import detect_family
from ptt.families.loading import load_config, load_frozen, load_tokenizer
from ptt.training import build_trainer
from tests.helpers import tiny_cfg

KINDS = ["t5", "roberta", "bert", "gpt2", "llama"]
PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm")


@pytest.fixture(scope="module")
def models(tiny_models, tiny_causal) -> dict[str, str]:
    return {**tiny_models, **tiny_causal}


def backward_products(path: str, trainable_backbone: bool) -> tuple[int, int, int]:
    """(matrix products in the backward pass, calls of linear layers in the forward, backbone parameters holding a
    .grad)."""
    family, tokenizer, task = detect_family(load_config(path)), load_tokenizer(path), get_task("sst2")
    backbone = load_frozen(path, family.load_class(), torch.float32)
    for p in backbone.parameters():
        p.requires_grad_(trainable_backbone)
    hidden = backbone.get_input_embeddings().weight.shape[1]
    model = PromptModel(backbone, family, SoftPrompt(torch.randn(4, hidden, generator=torch.Generator().manual_seed(0))))
    batch = collate(encode_split(tiny_cfg(path, "unused"), task, tokenizer, family, "train", 24)[:4],
                    tokenizer.pad_token_id)
    extras = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask", "labels")}
    calls = []
    hooks = [m.register_forward_hook(lambda *_: calls.append(1)) for m in backbone.modules()
             if isinstance(m, (nn.Linear, Conv1D))]
    scores = model(batch["input_ids"], batch["attention_mask"], family.label_spec(tokenizer, task.words_for(family)),
                   **extras)
    for h in hooks:
        h.remove()
    loss = torch.nn.functional.cross_entropy(scores, batch["labels"])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        loss.backward()
    products = sum(e.count for e in prof.key_averages() if e.key in PRODUCTS)
    linears = len(calls)
    assert model.prompt.weight.grad is not None and model.prompt.weight.grad.abs().sum() > 0
    return products, linears, sum(p.grad is not None for p in backbone.parameters())


@pytest.mark.parametrize("kind", KINDS)
def test_the_frozen_backward_computes_and_keeps_no_weight_gradient(models, kind):
    frozen, linears, kept = backward_products(models[kind], trainable_backbone=False)
    unfrozen, _, kept_unfrozen = backward_products(models[kind], trainable_backbone=True)
    assert kept == 0 and kept_unfrozen > 0
    assert 0 < frozen <= linears  # at most one (activation-gradient) product per linear call
    assert unfrozen > frozen  # the same model with trainable weights adds the weight-gradient products


@pytest.mark.parametrize("kind", ["t5", "llama"])
def test_no_backbone_gradient_after_a_zero3_step(models, tmp_path, kind):
    trainer = build_trainer(tiny_cfg(models[kind], tmp_path))  # ZeRO-3 (tiny_cfg), fp32
    try:
        trainer.step(0)
        backbone = trainer.scorer.model.backbone
        assert all(p.grad is None for p in backbone.parameters())
        assert all(not p.requires_grad for p in backbone.parameters())
        assert [p for g in trainer.engine.optimizer.fp16_groups for p in g] == [trainer.scorer.model.prompt.weight]
    finally:
        trainer.close()
