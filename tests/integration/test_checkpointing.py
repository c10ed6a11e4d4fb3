"""Activation checkpointing of frozen backbones (--gradient-checkpointing), every family, against the same run
without it: the layers really are recomputed, the prompt's gradient, the loss and the prompt after a ZeRO-3 step are
unchanged (CPU fp32), a 2-rank ZeRO-3 run through the launcher gives the same prompt, and `ptt plan` counts it."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from ptt.backbone import PromptModel
from ptt.commands.plan import plan
from ptt.config import PlanConfig
from ptt.core.encode import collate, encode_split
from ptt.core.prompt import SoftPrompt
from ptt.core.tasks import get_task
from ptt.families import detect_family
from ptt.families.loading import load_config, load_frozen, load_tokenizer
from ptt.runtime.artifacts import load_prompt
from ptt.training import build_trainer
from tests.helpers import REPO, clean_env, deepspeed_launcher, free_port, invoke, assert_clean_error, tiny_cfg

KINDS = ["t5", "roberta", "bert_mlm", "bert", "gpt2", "llama"]
# seq2seq: the decoder's output, and so the prompt's gradient, differs from the run without checkpointing at the
# level of fp32 rounding (~1e-7, measured); so does causal_lm, which without checkpointing runs a shared prompt once
# and the rows on its key/value cache, and with checkpointing runs the rows whole (a recomputed layer would write the
# cache twice); the encoder and masked-LM families are bit-identical. After an AdamW step (whose first
# update is about lr * sign(g)) such a difference on a gradient element near zero moves it by up to ~1e-4 (measured
# 1.2e-4 on 1 of 128 elements), far below the lr-sized (0.1) move of a wrong gradient.
TOLERANCE = {k: dict(rtol=1e-6, atol=1e-6) for k in ("t5", "gpt2", "llama")}
STEP_TOLERANCE = {k: dict(rtol=0, atol=1e-3) for k in ("t5", "gpt2", "llama")}


def same(kind: str, a: torch.Tensor, b: torch.Tensor, tolerance: dict | None = None) -> None:
    tolerance = TOLERANCE if tolerance is None else tolerance
    if kind in tolerance:
        torch.testing.assert_close(a, b, **tolerance[kind])
    else:
        assert torch.equal(a, b), (a - b).abs().max()


@pytest.fixture(scope="module")
def models(tiny_models, tiny_causal) -> dict[str, str]:
    return {**tiny_models, **tiny_causal}


def recompute_counter(backbone: nn.Module) -> list[int]:
    """Counts the calls made during a backward pass of the first weighted leaf module (a linear, GPT-2's Conv1D, a
    norm) inside the first checkpointable layer: only a recomputed layer runs there."""
    layer = next(m for m in backbone.modules() if isinstance(m, GradientCheckpointingLayer))
    leaf = next(m for m in layer.modules() if not list(m.children()) and list(m.parameters(recurse=False)))
    calls = [0]
    leaf.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + (torch._C._current_graph_task_id() != -1)))
    return calls


def prompt_gradient(path: str, checkpointing: bool, task: str = "sst2") -> tuple[torch.Tensor, torch.Tensor, int]:
    """(loss, the prompt's gradient, recomputed calls) of one training batch through a PromptModel, no DeepSpeed."""
    family, tokenizer, spec = detect_family(load_config(path)), load_tokenizer(path), get_task(task)
    backbone = load_frozen(path, family.load_class(), torch.float32)
    init = torch.randn(4, backbone.get_input_embeddings().weight.shape[1], generator=torch.Generator().manual_seed(0))
    model = PromptModel(backbone, family, SoftPrompt(init), checkpointing).train()
    calls = recompute_counter(backbone)
    rows = encode_split(tiny_cfg(path, "unused", task=task), spec, tokenizer, family, "train", 48)[:4]
    batch = collate(rows, tokenizer.pad_token_id)
    if spec.kind == "generation":
        loss = model(batch["input_ids"], batch["attention_mask"], target_ids=batch["target_ids"],
                     target_mask=batch["target_mask"])
    else:
        extras = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask", "labels")}
        labels = family.label_spec(tokenizer, spec.words_for(family))
        loss = F.cross_entropy(model(batch["input_ids"], batch["attention_mask"], labels, **extras), batch["labels"])
    loss.backward()
    return loss.detach(), model.prompt.weight.grad.clone(), calls[0]


CASES = [(k, "sst2") for k in KINDS] + [("t5", "squad"), ("llama", "squad")]


@pytest.mark.parametrize("kind,task", CASES)
def test_checkpointing_recomputes_and_leaves_the_prompt_gradient_unchanged(models, kind, task):
    loss0, grad0, calls0 = prompt_gradient(models[kind], False, task)
    loss1, grad1, calls1 = prompt_gradient(models[kind], True, task)
    assert calls0 == 0 and calls1 > 0  # the layer ran again in the backward pass: checkpointing is really on
    assert grad0.abs().sum() > 0
    same(kind, loss0, loss1)
    same(kind, grad0, grad1)


@pytest.mark.parametrize("kind", KINDS)
def test_a_zero3_step_with_checkpointing_equals_the_step_without(models, tmp_path, kind):
    results = []
    for flag in (False, True):
        trainer = build_trainer(tiny_cfg(models[kind], tmp_path / str(flag), gradient_checkpointing=flag))
        try:
            calls = recompute_counter(trainer.scorer.model.backbone)
            loss = trainer.step(0).loss
            results.append((torch.tensor(loss), trainer.full_prompt(), calls[0]))
        finally:
            trainer.close()
    (loss0, prompt0, calls0), (loss1, prompt1, calls1) = results
    assert calls0 == 0 and calls1 > 0
    same(kind, loss0, loss1)
    same(kind, prompt0, prompt1, STEP_TOLERANCE)


def test_two_rank_zero3_run_with_checkpointing_through_the_launcher(models, tmp_path):
    outs = {}
    for flag in ("", "--gradient-checkpointing"):
        out = tmp_path / (flag.strip("-") or "plain")
        cmd = [deepspeed_launcher(), "--num_gpus", "2", "--master_port", str(free_port()),
               str(REPO / "launch" / "ptt_main.py"), "train", "--backbone", models["llama"], "--task", "sst2",
               "--precision", "fp32", "--ds-config", "zero3_bf16", "--prompt-length", "4", "--max-length", "24",
               "--max-steps", "3", "--eval-every", "3", "--batch-size", "4", "--max-train-examples", "32",
               "--max-eval-examples", "16", "--output-dir", str(out)] + ([flag] if flag else [])
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path,
                              env=clean_env(PYTHONPATH=str(REPO)))
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        outs[flag] = out
    plain, ckpt = outs[""], outs["--gradient-checkpointing"]
    assert json.loads((ckpt / "config.json").read_text())["train"]["gradient_checkpointing"] is True
    same("llama", load_prompt(plain / "last")[0], load_prompt(ckpt / "last")[0], STEP_TOLERANCE)
    assert (plain / "metrics.jsonl").read_text() == (ckpt / "metrics.jsonl").read_text()


def test_a_backbone_that_cannot_checkpoint_is_refused(tmp_path):
    from transformers import AutoTokenizer, JetMoeConfig, JetMoeForCausalLM

    from ptt.tiny import TOKENIZERS

    tok = AutoTokenizer.from_pretrained(str(TOKENIZERS / "roberta"))
    JetMoeForCausalLM(JetMoeConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                   kv_channels=16, intermediate_size=32, num_local_experts=2,
                                   num_experts_per_tok=1)).save_pretrained(tmp_path / "jetmoe")
    tok.save_pretrained(tmp_path / "jetmoe")
    out = tmp_path / "run"
    assert_clean_error(invoke("train", "--backbone", str(tmp_path / "jetmoe"), "--gradient-checkpointing",
                              "--max-steps", "1", "--eval-every", "1", "--output-dir", str(out)),
                       "--gradient-checkpointing: JetMoeForCausalLM does not support gradient checkpointing")
    assert not out.exists()


def test_plan_counts_checkpointed_activations():
    base = dict(backbone=str(REPO / "tests" / "fixtures" / "configs" / "llama-3-8b"), seq_len=512, batch_size=64)
    kept, recomputed = plan(PlanConfig(**base)), plan(PlanConfig(**base, gradient_checkpointing=True))
    # 32 layers x (34h + 5 heads x tokens) bytes per token kept, against 2h per layer and token plus one layer
    assert recomputed["per_gpu_gib"]["activations"] < kept["per_gpu_gib"]["activations"] / 10
    assert recomputed["per_gpu_gib"]["frozen_weights"] == kept["per_gpu_gib"]["frozen_weights"]
    assert recomputed["gradient_checkpointing"] and not kept["gradient_checkpointing"]
