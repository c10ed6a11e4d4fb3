#!/usr/bin/env python
"""ptt vs PEFT prompt tuning: training throughput, where ptt's step goes, and T5 scoring speed.

Both tools train the same soft prompt on the same frozen backbone (one set of random weights saved to a
temporary folder and loaded by each), on the same SST-2 training examples, with the same prompt length,
batch size, max length, precision, step count, learning rate and AdamW. Padding is dynamic (to the longest
row of each batch) for both. Each tool batches the examples its own way: ptt with its default
length-grouped order, PEFT + Trainer with the Trainer's default random sampler, and, as further PEFT
columns, the Trainer's `group_by_length` sampler and ptt's exact batches (identical shapes, which isolates
the per-step cost). tokens/s counts real tokens (prompt + non-pad text). See benchmarks/README.md.

Decoder-only rows (`--backbone llama|gpt2|decoder`, random weights of a small Llama or GPT-2 shape built here):
SST-2 rank classification (ptt: label-word logits at the last position; PEFT CAUSAL_LM: the LM loss on the label
word appended to the input), a generation task (`--gen-task`, teacher-forced loss on the target tokens), and
greedy decoding speed (ptt's Scorer.generate against PEFT's generate with left padding).

    python benchmarks/throughput.py                      # t5, roberta, minilm on this machine
    python benchmarks/throughput.py --backbone t5 --t5-config t5-v1_1-large --precision bf16   # on a GPU
    python benchmarks/throughput.py --backbone decoder   # llama + gpt2: classification, generation, decoding
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # runs from a checkout without `pip install -e .`
sys.path.insert(0, str(REPO / "benchmarks"))  # its parts: benchmarks/speed/

import torch  # noqa: E402

import ptt.tiny  # noqa: E402

from ptt.config import BATCH_ORDERS, TrainConfig  # noqa: E402
from ptt.core.encode import encode_split  # noqa: E402
from ptt.core.tasks import get_task  # noqa: E402
from ptt.families import FAMILIES  # noqa: E402
from ptt.families.loading import load_tokenizer  # noqa: E402
from speed.common import (CAUSAL, FAMILY, GPT2, LLAMA, MINILM_SKIP, PEFT_ORDERS, add_flops, batch_stats,  # noqa: E402
                          build_backbone, merge_rounds, on_cuda, ptt_batches, resolve_precision, row_length)
from speed.peft_side import run_peft  # noqa: E402
from speed.ptt_side import ptt_config, run_ptt  # noqa: E402
from speed.report import print_backbone  # noqa: E402, F401 (part of this command's API: the smoke test calls it)

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backbone", choices=["t5", "roberta", "minilm", "llama", "gpt2", "smollm2", "all", "decoder"],
                   default="all",
                   help="all: t5, roberta, minilm; decoder: llama, gpt2 (decoder-only rows)")
    p.add_argument("--t5-config", choices=list(ptt.tiny.T5), default="t5-small")
    p.add_argument("--roberta-config", choices=list(ptt.tiny.ROBERTA), default="roberta-base-4l")
    p.add_argument("--llama-config", choices=list(LLAMA), default="llama-256-4l")
    p.add_argument("--gpt2-config", choices=list(GPT2), default="gpt2-256-4l")
    p.add_argument("--gen-task", choices=["nq_open", "squad"], default="nq_open",
                   help="decoder-only rows: the generation task (trained, then decoded)")
    p.add_argument("--gen-max-new-tokens", type=int, default=None,
                   help="decoding budget of the generation speed comparison (default: the task's, 32)")
    p.add_argument("--steps", type=int, default=30, help="optimizer steps per tool and round")
    p.add_argument("--warmup", type=int, default=5, help="leading steps of each round left out of the means")
    p.add_argument("--rounds", type=int, default=1, help="rounds of both tools, alternating which goes first")
    p.add_argument("--breakdown-steps", type=int, default=5, help="extra ptt steps timed around engine calls")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=64, help="max text tokens per example (ptt --max-length)")
    p.add_argument("--prompt-length", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.3)
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto", help="auto: bf16 on CUDA")
    p.add_argument("--ds-config", default=None, help="ptt --ds-config (default: ptt's own choice)")
    p.add_argument("--task", default="sst2")
    p.add_argument("--train-examples", type=int, default=1024, help="ptt --max-train-examples")
    p.add_argument("--eval-examples", type=int, default=128, help="dev examples for the T5 scoring comparison")
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--batch-order", choices=BATCH_ORDERS, default=TrainConfig.batch_order,
                   help="ptt --batch-order")
    p.add_argument("--peft-orders", default="random,group_by_length,same",
                   help="comma-separated PEFT columns: " + ", ".join(f"{k} ({v})" for k, v in PEFT_ORDERS.items())
                        + "; the first is the headline ratio's baseline")
    p.add_argument("--peak-tflops", type=float, default=790.0, help="peak dense TFLOP/s for MFU (GPU only)")
    p.add_argument("--json", default=None, help="also write the results here")
    o = p.parse_args(argv)
    if not 0 <= o.warmup < o.steps or o.rounds < 1:
        p.error("need 0 <= --warmup < --steps and --rounds >= 1")
    o.peft_orders = [v.strip() for v in o.peft_orders.split(",") if v.strip()]
    if not o.peft_orders or set(o.peft_orders) - set(PEFT_ORDERS):
        p.error(f"--peft-orders {','.join(o.peft_orders)}: choose from {', '.join(PEFT_ORDERS)}")
    return o


def run_backbone(kind: str, o, root: Path) -> dict:
    """Build (or find) the backbone, encode the data once, run both tools for --rounds rounds (alternating
    which goes first, so drifting background load hits both alike), and compare."""
    shape = {"t5": o.t5_config, "roberta": o.roberta_config, "minilm": "all-MiniLM-L6-v2", "llama": o.llama_config,
             "gpt2": o.gpt2_config, "smollm2": "SmolLM2-135M-Instruct"}[kind]
    path = build_backbone(kind, shape, root / kind, resolve_precision(o))
    cfg, tok, task = ptt_config(o, path, str(root / "unused")), load_tokenizer(path), get_task(o.task)
    family = FAMILIES[FAMILY[kind]]
    rows = encode_split(cfg, task, tok, family, "train", cfg.max_length)
    generation = task.kind == "generation"
    eval_rows = encode_split(cfg, task, tok, family, "eval", cfg.max_length) if kind == "t5" or generation else []
    batches = ptt_batches(rows, o)
    stats = [batch_stats([row_length(rows[i]) for i in b], o, shared_prompt=kind in CAUSAL) for b in batches]
    tools = ["ptt"] + ([] if kind == "minilm" else o.peft_orders)
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    for r in range(o.rounds):
        for tool in tools if r % 2 == 0 else tools[::-1]:
            if tool == "ptt":
                runs["ptt"].append(run_ptt(o, path, stats, first=r == 0, rows=rows if kind in CAUSAL else None))
            else:  # T5 generate scoring once, with the headline column's model
                first = r == 0 and tool == o.peft_orders[0]
                runs[tool].append(run_peft(o, kind, path, rows, eval_rows, first, tool, batches))
    res = {"backbone": kind, "shape": shape, "family": FAMILY[kind], "precision": resolve_precision(o),
           "device": torch.cuda.get_device_name() if on_cuda() else "cpu", "ptt": merge_rounds(runs["ptt"], o),
           "peft": {"skipped": MINILM_SKIP}, "peft_orders": {}, "ratio": None, "ratios": {}}
    for order in tools[1:]:
        res["peft_orders"][order] = merged = merge_rounds(runs[order], o)
        res["ratios"][order] = {"samples": res["ptt"]["samples_per_s"] / merged["samples_per_s"],
                                "tokens": res["ptt"]["tokens_per_s"] / merged["tokens_per_s"]}
    if len(tools) > 1:
        res["peft"], res["ratio"] = res["peft_orders"][tools[1]], res["ratios"][tools[1]]["samples"]
    if kind in CAUSAL:
        res["task"] = task.name
        if "generation" in res["ptt"] and "generation" in res["peft"]:
            res["generation_ratio"] = {m: res["ptt"]["generation"][m]["examples_per_s"] /
                                       res["peft"]["generation"][m]["examples_per_s"] for m in ("fixed", "eos")}
    add_flops(res, o)
    return res


def row_kinds(o) -> list[tuple[str, str]]:
    """(backbone, task) of each row: the classification task, and for decoder-only backbones also --gen-task."""
    kinds = {"all": ["t5", "roberta", "minilm"], "decoder": ["llama", "gpt2"]}.get(o.backbone, [o.backbone])
    return [(k, t) for k in kinds for t in ([o.task, o.gen_task] if k in CAUSAL else [o.task])]


def main(argv=None) -> list[dict]:
    o = parse_args(argv)
    if o.threads:
        torch.set_num_threads(o.threads)
    results = []
    with tempfile.TemporaryDirectory() as root:
        for kind, task in row_kinds(o):
            ro = o if task == o.task else copy.copy(o)
            ro.task = task
            results.append(run_backbone(kind, ro, Path(root)))
            print_backbone(results[-1], ro)
    print("\n== summary: ptt/PEFT training throughput (samples/s, pooled over rounds), per PEFT column ==")
    for r in results:
        ratios = "   ".join(f"vs PEFT {k} {v['samples']:.2f}x" for k, v in r["ratios"].items())
        name = f"{r['backbone']:<8}" if "task" not in r else f"{r['backbone'] + '/' + r['task']:<14}"
        gen = "" if "generation_ratio" not in r else \
            f"   generation ptt/PEFT {r['generation_ratio']['fixed']:.2f}x ex/s (fixed length)"
        print(f"  {name} {r['shape']:<18} ptt {r['ptt']['samples_per_s']:9.2f}/s   "
              + (ratios or "PEFT skipped") + gen)
    if o.json:
        Path(o.json).write_text(json.dumps({"args": vars(o), "results": results}, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
