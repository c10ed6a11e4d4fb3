"""The causal_lm family on tiny GPT-2- and Llama-shaped models built from config (the RoBERTa BPE files serve
their tokenizer): detection, only the prompt trains, scores against the model run by hand, padding on either
side, indicator probes on the MLP, PEFT CAUSAL_LM interchange, and `ptt plan` counting the LM head."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from ptt.commands.plan import count_parameters, plan
from ptt.config import PlanConfig, ScoreConfig
from ptt.core.encode import collate
from ptt.core.tasks import get_task
from ptt.families import detect_family
from ptt.families.base import LabelSpec, label_token_ids
from ptt.families.loading import load_config
from ptt.runtime.artifacts import load_prompt, save_prompt
from ptt.scoring import open_scorer
from ptt.training import build_trainer
from ptt.transfer.indicators.overlap import activation_masks, ffn_modules
from ptt.transfer.peft import export_peft, import_peft
from tests.helpers import run_ptt, tiny_cfg, backbone_snapshot

CONFIGS = Path(__file__).parents[1] / "fixtures" / "configs"
L = 4


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_decoder_only_checkpoints_are_causal_lm(causal, name):
    assert detect_family(load_config(causal[name])).name == "causal_lm"


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_a_step_changes_only_the_prompt(causal, tmp_path, name):
    trainer = build_trainer(tiny_cfg(causal[name], tmp_path, init="labels"))
    try:
        assert trainer.scorer.family.name == "causal_lm"
        assert [p for p in trainer.scorer.model.parameters() if p.requires_grad] == [trainer.scorer.model.prompt.weight]
        before, prompt0 = backbone_snapshot(trainer.scorer.model), trainer.full_prompt()
        trainer.step(0)
        after, prompt1 = backbone_snapshot(trainer.scorer.model), trainer.full_prompt()
    finally:
        trainer.close()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(prompt0, prompt1)


def _by_hand(path, batch, prompt, left: bool = False):
    """Label-word logits at each row's last real token, the full model run on the prepended embeddings."""
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    tok = AutoTokenizer.from_pretrained(path)
    ids = label_token_ids(tok, get_task("sst2").label_words["seq2seq"])
    out = []
    with torch.no_grad():
        for row, mask in zip(batch["input_ids"], batch["attention_mask"]):
            real = row[mask.bool()].unsqueeze(0)  # each row alone: no padding at all
            x = torch.cat([prompt.unsqueeze(0), model.get_input_embeddings()(real)], dim=1)
            out.append(model(inputs_embeds=x).logits[0, -1, ids])
    return torch.stack(out)


@pytest.mark.parametrize("name", ["gpt2", "llama"])
def test_scores_equal_the_model_run_by_hand_under_right_and_left_padding(causal, name):
    scorer = open_scorer(ScoreConfig(backbone=causal[name], precision="fp32", max_eval_examples=6), L)
    task = get_task("sst2")
    try:
        rows = scorer.rows(task, "eval")
        assert len({len(r["input_ids"]) for r in rows}) > 1
        batch = collate(rows, scorer.tokenizer.pad_token_id)
        prompt = torch.randn(L, 32, generator=torch.Generator().manual_seed(0))
        right = scorer.scores(batch, scorer.labels(task), prompt)
        flipped = {k: v.clone() for k, v in batch.items()}  # the same rows, padded on the left
        for i, m in enumerate(batch["attention_mask"]):
            n = int(m.sum())
            flipped["input_ids"][i] = torch.roll(batch["input_ids"][i], batch["input_ids"].shape[1] - n)
            flipped["attention_mask"][i] = torch.roll(m, batch["input_ids"].shape[1] - n)
        assert flipped["attention_mask"][:, 0].min() == 0  # some row really is left-padded
        left = scorer.scores(flipped, scorer.labels(task), prompt)
    finally:
        scorer.close()
    want = _by_hand(causal[name], batch, prompt)
    assert torch.allclose(right, want, atol=1e-4), (right, want)
    assert torch.allclose(left, want, atol=1e-4), (left, want)


@pytest.mark.parametrize("name,sites", [("gpt2", 2), ("llama", 2)])
def test_indicator_probes_read_the_mlp_activations(causal, name, sites):
    scorer = open_scorer(ScoreConfig(backbone=causal[name], precision="fp32"), L)
    try:
        names = [n for n, _, _ in ffn_modules(scorer.model.backbone, scorer.family)]
        masks = activation_masks(scorer, [torch.randn(L, 32)])[0]
    finally:
        scorer.close()
    assert len(names) == sites and all(("act" in n) for n in names)
    assert [tuple(m.shape) for m in masks] == [(1, 128 if name == "gpt2" else 64)] * sites
    assert all(m.dtype == torch.bool and 0 < int(m.sum()) < m.numel() for m in masks)


def test_peft_causal_lm_loads_the_export_and_prepends_it_as_ptt_does(causal, tmp_path):
    from peft import PeftModel

    path = causal["llama"]
    prompt = torch.randn(L, 32, generator=torch.Generator().manual_seed(3))
    src = save_prompt(tmp_path / "p", prompt, {"backbone": path, "backbone_path": path, "family": "causal_lm",
                                               "task": "sst2", "step": 5, "metrics": {"accuracy": 0.5},
                                               "max_length": 24})
    out = export_peft(src, tmp_path / "adapter")
    config = json.loads((out / "adapter_config.json").read_text())
    assert config["task_type"] == "CAUSAL_LM" and config["num_virtual_tokens"] == L
    model = AutoModelForCausalLM.from_pretrained(path).eval()
    peft_model = PeftModel.from_pretrained(model, str(out)).eval()
    tok = AutoTokenizer.from_pretrained(path)
    enc = tok(["a fine film", "dull"], padding=True, return_tensors="pt")
    with torch.no_grad():
        peft_logits = peft_model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits
        base = peft_model.get_base_model()
        x = torch.cat([prompt.unsqueeze(0).expand(2, -1, -1), base.get_input_embeddings()(enc["input_ids"])], 1)
        mask = torch.cat([torch.ones(2, L, dtype=enc["attention_mask"].dtype), enc["attention_mask"]], 1)
        ptt_logits = base(inputs_embeds=x, attention_mask=mask).logits
    assert torch.allclose(peft_logits, ptt_logits, atol=1e-6)
    back, meta = load_prompt(import_peft(out, tmp_path / "back"))
    assert torch.equal(back, prompt) and meta["family"] == "causal_lm" and meta["task"] == "sst2"


def test_plan_counts_the_lm_head_of_llama_3_shapes():
    total_8b, _, _, family = count_parameters(str(CONFIGS / "llama-3-8b"))
    total_70b, _, _, _ = count_parameters(str(CONFIGS / "llama-3-70b"))
    assert family == "causal_lm"
    assert round(total_8b / 1e9, 2) == 8.03 and round(total_70b / 1e9, 1) == 70.6
    p = plan(PlanConfig(backbone=str(CONFIGS / "llama-3-8b"), gpus_per_node=8, nodes=1))
    assert p["family"] == "causal_lm" and p["fits"]
    assert abs(p["per_gpu_gib"]["frozen_weights"] - total_8b * 2 / 8 / 1024**3) < 1e-9


def test_cli_trains_and_scores_a_llama_prompt(causal, tmp_path):
    out = tmp_path / "run"
    r = run_ptt("train", "--backbone", causal["llama"], "--prompt-length", "4", "--max-steps", "2", "--eval-every", "2",
                "--batch-size", "4", "--max-train-examples", "16", "--max-eval-examples", "8", "--max-length", "24",
                "--precision", "fp32", "--output-dir", str(out))
    assert r.returncode == 0, r.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["family"] == "causal_lm" and config["label_words"] == ["negative", "positive"]
    r = run_ptt("eval", "--prompt", str(out / "last"), "--max-eval-examples", "8")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["accuracy"] == json.loads(
        (out / "metrics.jsonl").read_text().splitlines()[-1])["accuracy"]


@pytest.mark.parametrize("name", ["gpt2", "llama"])
@pytest.mark.parametrize("kind", ["score", "lm_loss"])
def test_a_shared_prompt_runs_once_per_prompt_and_changes_no_number(causal, name, kind):
    """Rows that read one of G prompts (blocks of B / G rows): the G prompts run alone and the rows attend to their
    key/value cache; scores, loss and the prompts' gradient equal running every row whole (fp32 rounding), and the
    first layer computes G x L + B x T positions instead of B x (L + T)."""
    from ptt.families.causal_lm import FAMILY

    model = AutoModelForCausalLM.from_pretrained(causal[name], dtype=torch.float32).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    g = torch.Generator().manual_seed(0)
    groups, per, width, hidden = 2, 3, 7, model.config.hidden_size
    prompts = torch.randn(groups, L, hidden, generator=g, requires_grad=True)
    text = torch.randn(groups * per, width, hidden, generator=g)
    mask = torch.ones(groups * per, width, dtype=torch.long)
    mask[1, 4:], mask[4, 2:] = 0, 0  # right padding
    mask[5, :3] = 0  # and left padding between the prompt and the input
    targets = torch.randint(5, 100, (groups * per, 3), generator=g)
    target_mask = torch.ones_like(targets)
    target_mask[2, 1:] = 0
    labels = LabelSpec(ids=torch.tensor([5, 9]))
    layer = next(m for m in model.modules() if m.__class__.__name__ in ("GPT2Block", "LlamaDecoderLayer"))
    computed = []
    layer.register_forward_pre_hook(lambda _m, args, kw: computed.append((args[0] if args else kw["hidden_states"])
                                                                         .shape[:2].numel()), with_kwargs=True)

    def run(g_count):
        computed.clear()
        embeds = torch.cat([prompts.repeat_interleave(per, 0), text], 1)
        full = torch.cat([torch.ones(groups * per, L, dtype=torch.long), mask], 1)
        if kind == "score":
            out = FAMILY.score(model, embeds, full, L, labels, groups=g_count)
            value = out.sum()
        else:
            out = FAMILY.lm_loss(model, embeds, full, L, targets, target_mask, groups=g_count)
            value = out
        grad, = torch.autograd.grad(value, prompts)
        return out.detach(), grad, sum(computed)

    shared, grad_shared, n_shared = run(groups)
    whole, grad_whole, n_whole = run(groups * per)
    torch.testing.assert_close(shared, whole, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_shared, grad_whole, rtol=1e-4, atol=1e-6)
    assert grad_whole.abs().sum() > 0
    rows_width = n_whole // (groups * per) - L  # lm_loss packs source + target: its own width
    assert n_shared == groups * L + groups * per * rows_width
    assert n_whole == groups * per * (L + rows_width)
