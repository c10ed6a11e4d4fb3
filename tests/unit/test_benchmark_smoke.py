"""Smoke test of benchmarks/throughput.py on tiny shapes: both tools train, a ratio comes out, PEFT is not
wrapped in DDP by ptt's leftover launcher environment, and rank classification yields only valid labels."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "throughput.py"
TINY = ["--t5-config", "tiny", "--roberta-config", "tiny", "--steps", "2", "--warmup", "1", "--breakdown-steps", "1",
        "--batch-size", "4", "--seq-len", "24", "--prompt-length", "4", "--train-examples", "32",
        "--eval-examples", "8", "--eval-batch-size", "4"]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("ptt_benchmark_throughput", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_ptt_and_peft_on_tiny_t5_and_roberta(tmp_path, capsys):
    bench = load_benchmark()
    out = tmp_path / "results.json"
    results = bench.main(["--backbone", "t5", "--json", str(out), *TINY])
    opts = bench.parse_args(TINY)
    results.append(bench.run_backbone("roberta", opts, tmp_path))
    bench.print_backbone(results[-1], opts)
    printed = capsys.readouterr().out

    for res in results:
        assert list(res["peft_orders"]) == ["random", "group_by_length", "same"]
        for tool, r in [("ptt", res["ptt"]), *res["peft_orders"].items()]:
            assert r["samples_per_s"] > 0, (res["backbone"], tool)
            assert r["tokens_per_s"] > 0 and r["step_ms"] > 0
            assert r["timed_steps"] == 1  # 2 steps, 1 of them warm-up
        assert res["peft"] is res["peft_orders"]["random"] and res["ratio"] == res["ratios"]["random"]["samples"] > 0
        assert all(q["model_wrapped"] != "DistributedDataParallel" for q in res["peft_orders"].values())
        # "same" reads ptt's batches: the collator saw exactly ptt's real tokens and padded shapes
        same, mine = res["peft_orders"]["same"], res["ptt"]
        assert same["real_tokens_per_step"] == mine["real_tokens_per_step"]
        assert same["computed_positions_per_step"] == mine["computed_positions_per_step"]
        assert set(res["ptt"]["breakdown_ms"]) >= {"forward", "backward", "optimizer step"}
        assert res["ptt"]["flop_params"]["encoder"] > 0
    assert printed.count("ptt/PEFT training throughput vs") == 6

    t5 = results[0]
    rank, gen = t5["ptt"]["scoring"], t5["peft"]["scoring"]
    assert rank["examples"] == gen["examples"] == 8
    assert rank["invalid"] == 0 and set(rank["preds"]) <= {0, 1} and len(rank["preds"]) == 8
    assert rank["examples_per_s"] > 0 and gen["examples_per_s"] > 0
    assert 0 <= gen["invalid"] <= 8
    assert t5["ptt"]["flop_params"]["decoder"] > 0 and results[1]["ptt"]["flop_params"]["decoder"] == 0
    assert json.loads(out.read_text())["results"][0]["backbone"] == "t5"


def test_benchmark_refuses_unknown_peft_orders(capsys):
    bench = load_benchmark()
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--peft-orders", "random,sorted"])
    assert exit_info.value.code == 2
    assert "--peft-orders random,sorted: choose from random, group_by_length, same" in capsys.readouterr().err
    assert bench.parse_args(["--peft-orders", "same, random"]).peft_orders == ["same", "random"]
