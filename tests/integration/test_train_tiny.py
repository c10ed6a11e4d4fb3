"""Training invariants on tiny T5 / RoBERTa / BERT models built from config, in one process."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import ptt.training
from ptt.cli import main
from ptt.commands.train import run as train
from ptt.runtime.artifacts import load_prompt
from ptt.training import build_trainer
from tests.helpers import tiny_cfg, backbone_snapshot

FAMILY_OF = {"t5": "seq2seq", "roberta": "masked_lm", "bert_mlm": "masked_lm", "bert": "encoder"}


@pytest.mark.parametrize("kind", ["t5", "roberta", "bert_mlm", "bert"])
def test_a_step_changes_only_the_prompt(tiny_models, tmp_path, kind):
    trainer = build_trainer(tiny_cfg(tiny_models[kind], tmp_path))
    try:
        model = trainer.scorer.model
        assert trainer.scorer.frozen.family.name == FAMILY_OF[kind]
        trainable = [p for p in model.parameters() if p.requires_grad]
        assert trainable == [model.prompt.weight]
        zero3 = trainer.engine.optimizer  # DeepSpeed's ZeRO-3 optimizer around torch AdamW
        assert [p for group in zero3.fp16_groups for p in group] == [model.prompt.weight]
        master = sum(t.numel() for t in zero3.fp32_partitioned_groups_flat)  # fp32 master copy AdamW updates
        assert master == model.prompt.length * model.prompt.hidden_size
        before_backbone, before_prompt = backbone_snapshot(model), trainer.full_prompt()
        trainer.step(0)
        after_backbone, after_prompt = backbone_snapshot(model), trainer.full_prompt()
        assert not torch.equal(before_prompt, after_prompt)
        assert before_backbone.keys() == after_backbone.keys()
        for name, value in before_backbone.items():
            assert torch.equal(value, after_backbone[name]), name
        assert not model.backbone.training  # dropout stays off even after engine.train()
    finally:
        trainer.close()


def test_steps_read_the_configured_batch_order(tiny_models, tmp_path, monkeypatch):
    seen = []
    real = ptt.training.global_batch
    monkeypatch.setattr(ptt.training, "global_batch", lambda *a: seen.append(a) or real(*a))
    trainer = build_trainer(tiny_cfg(tiny_models["t5"], tmp_path))
    try:
        lengths = tuple(len(r["input_ids"]) for r in trainer.view().train_rows)
        grouped_tokens = trainer.step(0).tokens
        trainer.cfg = replace(trainer.cfg, batch_order="random")
        random_tokens = trainer.step(0).tokens
    finally:
        trainer.close()
    assert seen[0][4] == lengths and seen[1][4] is None
    for args, tokens in zip(seen, (grouped_tokens, random_tokens)):  # the tokens a step reports are its batch's
        assert tokens == sum(lengths[i] for i in real(*args)) + 4 * len(real(*args))
    assert real(*seen[0]) != real(*seen[1])


def test_resume_equals_uninterrupted(tiny_models, tmp_path):
    t5 = tiny_models["t5"]
    train(tiny_cfg(t5, tmp_path / "full", max_steps=6))
    train(tiny_cfg(t5, tmp_path / "part", max_steps=2))
    train(tiny_cfg(t5, tmp_path / "part", max_steps=6, resume=True))
    full, _ = load_prompt(tmp_path / "full" / "last")
    part, meta = load_prompt(tmp_path / "part" / "last")
    assert meta["step"] == 6
    assert torch.equal(full, part)
    steps = [json.loads(line)["step"] for line in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 2, 4, 6]


def test_cli_train_writes_the_run_folder_and_eval_reads_it(tiny_models, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--backbone", tiny_models["roberta"], "--task", "sst2", "--prompt-length", "4",
            "--max-length", "24", "--max-steps", "4", "--eval-every", "2", "--batch-size", "4",
            "--max-train-examples", "64", "--max-eval-examples", "16", "--output-dir", str(out), "--log-every", "1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert names == {"config.json", "ds_config.json", "metrics.jsonl", "baseline.json", "summary.json", "best",
                     "last", "tb", "checkpoints"}
    config = json.loads((out / "config.json").read_text())
    assert config["seed"] == 42 and config["optimizer"] == "torch.optim.AdamW" and "deepspeed" in config["versions"]
    assert config["train"]["batch_order"] == "grouped"
    # one CPU process defaults to zero2_bf16 (nothing to partition); launched runs default to ZeRO-3
    assert json.loads((out / "ds_config.json").read_text())["zero_optimization"]["stage"] == 2
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2, 4] and all("accuracy" in r for r in rows)
    prompt, meta = load_prompt(out / "best")
    assert prompt.shape == (4, 32) and meta["family"] == "masked_lm" and meta["task"] == "sst2"
    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"train/loss", "train/lr", "eval/accuracy", "perf/samples_per_s", "perf/tokens_per_s"} <= tags
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3, 4]

    result = CliRunner().invoke(main, ["eval", "--prompt", str(out / "best"), "--max-eval-examples", "16"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.strip().splitlines()[-1])
    assert line["task"] == "sst2" and line["accuracy"] == pytest.approx(meta["metrics"]["accuracy"])


def test_init_from_is_recorded_and_starts_from_the_source(tiny_models, tmp_path):
    t5 = tiny_models["t5"]
    train(tiny_cfg(t5, tmp_path / "src", max_steps=2))
    source, source_meta = load_prompt(tmp_path / "src" / "best")
    trainer = build_trainer(tiny_cfg(t5, tmp_path / "dst", task="mr", init_from=str(tmp_path / "src" / "best")))
    try:
        assert torch.equal(trainer.full_prompt(), source)
        assert trainer.init_info["source_task"] == "sst2"
        assert trainer.init_info["source_sha256"] == source_meta["sha256"]
    finally:
        trainer.close()


def test_zero3_builds_the_backbone_partitioned(tiny_models):
    """With a live HfDeepSpeedConfig, from_pretrained builds inside zero.Init: every weight is a ZeRO-3
    partition from the start (no rank ever holds the whole model)."""
    from transformers.integrations.deepspeed import HfDeepSpeedConfig, unset_hf_deepspeed_config

    from ptt.families import FAMILIES
    from ptt.families.loading import load_frozen
    from ptt.runtime import dist

    dist.init()
    keep = HfDeepSpeedConfig({"train_micro_batch_size_per_gpu": 1, "zero_optimization": {"stage": 3}})
    try:
        model = load_frozen(tiny_models["t5"], FAMILIES["seq2seq"].load_class(), torch.float32)
        params = list(model.parameters())
        assert params and all(hasattr(p, "ds_id") for p in params)
        assert all(p.numel() == 0 for p in params)  # local storage released: only the partition remains
        assert not any(p.requires_grad for p in params)
    finally:
        del keep
        unset_hf_deepspeed_config()


def test_gradient_accumulation_matches_one_big_micro_batch(tiny_models, tmp_path):
    bert = tiny_models["bert"]
    train(tiny_cfg(bert, tmp_path / "one", max_steps=2, eval_every=2, batch_size=4))
    train(tiny_cfg(bert, tmp_path / "acc", max_steps=2, eval_every=2, batch_size=4, micro_batch_size=1))
    one, _ = load_prompt(tmp_path / "one" / "last")
    acc, _ = load_prompt(tmp_path / "acc" / "last")
    config = json.loads((tmp_path / "acc" / "config.json").read_text())
    assert config["gradient_accumulation_steps"] == 4 and config["micro_batch_size"] == 1
    assert torch.allclose(one, acc, atol=1e-5)
