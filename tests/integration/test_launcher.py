"""A real 2-rank ZeRO-3 bf16 run through the `deepspeed` launcher on CPU, with a tiny T5."""

from __future__ import annotations

import json
import subprocess

import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ptt.runtime.artifacts import load_prompt, save_prompt
from tests.helpers import FIXTURES, REPO, clean_env, run_ptt, deepspeed_launcher, free_port


def test_two_rank_zero3_bf16_through_the_launcher(tiny_models, tmp_path):
    out = tmp_path / "run"
    # 90% of the labels are "positive": a signal a 4-vector prompt on a random tiny T5 can learn,
    # so the loss must fall.
    data = str(FIXTURES / "skewed_sst2.jsonl")
    cmd = [deepspeed_launcher(), "--num_gpus", "2", "--master_port", str(free_port()),
           str(REPO / "launch" / "ptt_main.py"),
           "train", "--backbone", tiny_models["t5"], "--task", "sst2", "--train-file", data, "--eval-file", data,
           "--text-field", "text", "--precision", "bf16", "--ds-config", "zero3_bf16", "--prompt-length", "4",
           "--max-length", "24", "--max-steps", "16", "--eval-every", "8", "--batch-size", "8", "--lr", "0.3",
           "--log-every", "1", "--max-eval-examples", "32", "--output-dir", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path,
                          env=clean_env(PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    config = json.loads((out / "config.json").read_text())
    assert config["world_size"] == 2 and config["precision"] == "bf16"
    assert json.loads((out / "ds_config.json").read_text())["zero_optimization"]["stage"] == 3

    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    losses = [e.value for e in acc.Scalars("train/loss")]
    assert len(losses) == 16
    assert sum(losses[-4:]) / 4 < sum(losses[:4]) / 4 - 0.05, losses

    prompt, meta = load_prompt(out / "last")
    assert prompt.shape == (4, 32) and prompt.abs().sum() > 0  # the full tensor, not an empty ZeRO shard
    assert meta["step"] == 16
    proc = run_ptt("eval", "--prompt", str(out / "last"), "--eval-file", data, "--text-field", "text",
                   "--max-eval-examples", "32")
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = json.loads(proc.stdout.strip().splitlines()[-1])
    assert line["task"] == "sst2"
    # the launched run and the plain process score the same prompt alike (bf16 vs fp32 scoring aside)
    assert abs(line["accuracy"] - meta["metrics"]["accuracy"]) <= 0.1


def test_transfer_compare_runs_under_the_launcher(tiny_models, tmp_path):
    source = tmp_path / "source"
    save_prompt(source, torch.randn(4, 32) * 0.5, {"backbone": tiny_models["t5"], "backbone_path": tiny_models["t5"],
                                                   "family": "seq2seq", "task": "sst2", "step": 0, "metrics": {},
                                                   "max_length": 24})
    out = tmp_path / "cmp"
    cmd = [deepspeed_launcher(), "--num_gpus", "2", "--master_port", str(free_port()),
           str(REPO / "launch" / "ptt_main.py"),
           "transfer", "compare", "--task", "mr", "--source", str(source), "--seeds", "1", "--max-steps", "2",
           "--eval-every", "1", "--batch-size", "4", "--max-length", "24", "--max-train-examples", "32",
           "--max-eval-examples", "16", "--precision", "fp32", "--ds-config", "zero3_bf16", "--output-dir", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path,
                          env=clean_env(PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["seeds"] == [42] and report["source"]["task"] == "sst2"
    assert report["data_order_shared"] is True
    for arm in report["arms"]:
        assert [p[0] for p in report["per_seed"][0]["arms"][arm["spec"]]["curve"]] == [0, 1, 2]
        assert json.loads((out / "runs" / f"{arm['name']}-seed42" / "config.json").read_text())["world_size"] == 2
