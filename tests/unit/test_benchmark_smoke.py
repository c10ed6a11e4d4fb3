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
    assert gen["invalid"] + round(gen["accuracy"] * 8) <= 8  # an output that is no label word is never counted right
    assert t5["ptt"]["flop_params"]["decoder"] > 0 and results[1]["ptt"]["flop_params"]["decoder"] == 0
    assert json.loads(out.read_text())["results"][0]["backbone"] == "t5"


def test_benchmark_refuses_unknown_peft_orders(capsys):
    bench = load_benchmark()
    with pytest.raises(SystemExit) as exit_info:
        bench.parse_args(["--peft-orders", "random,sorted"])
    assert exit_info.value.code == 2
    assert "--peft-orders random,sorted: choose from random, group_by_length, same" in capsys.readouterr().err
    assert bench.parse_args(["--peft-orders", "same, random"]).peft_orders == ["same", "random"]


DECODER_TINY = ["--llama-config", "tiny", "--gpt2-config", "tiny", "--steps", "2", "--warmup", "1",
                "--breakdown-steps", "1", "--batch-size", "4", "--seq-len", "24", "--prompt-length", "4",
                "--train-examples", "32", "--eval-examples", "8", "--eval-batch-size", "4", "--gen-max-new-tokens", "3",
                "--peft-orders", "random,group_by_length,same"]


def test_benchmark_runs_decoder_only_rows_on_tiny_llama_and_gpt2(capsys):
    """`--backbone decoder`: llama and gpt2, each an SST-2 row and an nq_open row (training ratios against the
    Trainer's default and its group_by_length), plus greedy decoding speed for both tools."""
    bench = load_benchmark()
    assert bench.row_kinds(bench.parse_args([])) == [("t5", "sst2"), ("roberta", "sst2"), ("minilm", "sst2")]
    results = bench.main(["--backbone", "decoder", *DECODER_TINY])
    printed = capsys.readouterr().out

    assert [(r["backbone"], r["task"]) for r in results] == [("llama", "sst2"), ("llama", "nq_open"),
                                                              ("gpt2", "sst2"), ("gpt2", "nq_open")]
    for res in results:
        assert res["family"] == "causal_lm"
        for tool, r in [("ptt", res["ptt"]), *res["peft_orders"].items()]:
            assert r["samples_per_s"] > 0 and r["tokens_per_s"] > 0 and r["timed_steps"] == 1, (res["backbone"], tool)
        assert all(q["model_wrapped"] != "DistributedDataParallel" for q in res["peft_orders"].values())
        same, mine = res["peft_orders"]["same"], res["ptt"]
        assert same["real_tokens_per_step"] == mine["real_tokens_per_step"]  # the same examples' tokens
        extra = 4 if res["task"] == "sst2" else 0  # PEFT's input carries the label word (batch 4)
        shared = 3 * 4  # ptt runs the prompt (length 4) once per batch of 4 rows, PEFT in every row
        assert same["computed_positions_per_step"] == mine["computed_positions_per_step"] + shared + extra
        assert set(mine["breakdown_ms"]) >= {"forward", "backward", "optimizer step"}
        assert mine["flop_params"]["encoder"] > 0
    for res in results[1::2]:
        mine, theirs = res["ptt"]["generation"], res["peft"]["generation"]
        assert mine["fixed"]["examples"] == theirs["fixed"]["examples"] == 8
        assert mine["fixed"]["new_tokens_per_example"] == theirs["fixed"]["new_tokens_per_example"] == 3
        # stopping at EOS never decodes past the fixed budget
        assert all(g["eos"]["new_tokens_per_example"] <= g["fixed"]["new_tokens_per_example"] for g in (mine, theirs))
        assert res["generation_ratio"]["fixed"] > 0 and res["generation_ratio"]["eos"] > 0
    for order in ("random", "group_by_length", "same"):
        assert printed.count(f"ptt/PEFT training throughput vs PEFT {order}:") == 4
    assert printed.count("ptt/PEFT generation speed:") == 2
    assert printed.count("where ptt's step goes") == 4 and printed.count("padding share of computed positions") == 4
