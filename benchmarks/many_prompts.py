"""Scoring many prompts on the same inputs: one prompt at a time (what `ptt transfer eval` did before prompts were
stacked into the batch dimension) against all prompts together (`Scorer.evaluate_many`, what it does now), in one
process on one loaded backbone, each timing repeated and interleaved. Prints seconds per transfer matrix, the ratio,
and whether both gave the same metrics.

    python benchmarks/many_prompts.py                         # minilm and smollm2, 6 prompts x 4 tasks
    python benchmarks/many_prompts.py --backbone minilm --prompts 6 --tasks sst2,mr,snli,qqp --eval-examples 200
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ptt.config import ScoreConfig
from ptt.core.tasks import get_task
from ptt.scoring import open_scorer


def matrix_one_at_a_time(scorer, tasks, prompts) -> list[list[dict]]:
    return [[scorer.evaluate(task, p) for p in prompts] for task in tasks]


def matrix_together(scorer, tasks, prompts) -> list[list[dict]]:
    return [scorer.evaluate_many(task, prompts) for task in tasks]


def measure(backbone: str, n_prompts: int, task_names: list[str], eval_examples: int, length: int, batch: int,
            rounds: int) -> dict:
    scorer = open_scorer(ScoreConfig(backbone=backbone, precision="fp32", max_eval_examples=eval_examples,
                                     eval_batch_size=batch), length)
    try:
        tasks = [get_task(t) for t in task_names]
        prompts = torch.stack([scorer.initial_prompt("vocab", length, seed, tasks[0])[0] for seed in range(n_prompts)])
        for task in tasks:  # tokenize once, outside the timings
            scorer.rows(task, "eval")
        matrix_together(scorer, tasks, prompts[:1])  # warm-up
        times = {"one_at_a_time": [], "together": []}
        results = {}
        for _ in range(rounds):
            for name, fn in (("one_at_a_time", matrix_one_at_a_time), ("together", matrix_together)):
                start = time.perf_counter()
                results[name] = fn(scorer, tasks, prompts)
                times[name].append(time.perf_counter() - start)
    finally:
        scorer.close()
    best = {k: min(v) for k, v in times.items()}
    return {"backbone": backbone, "prompts": n_prompts, "tasks": task_names, "eval_examples": eval_examples,
            "eval_batch_size": batch, "prompt_length": length, "rounds": rounds, "seconds": times,
            "best_seconds": best, "speedup": best["one_at_a_time"] / best["together"],
            "same_metrics": results["one_at_a_time"] == results["together"]}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="minilm,smollm2", help="comma-separated backbones")
    p.add_argument("--prompts", type=int, default=6)
    p.add_argument("--tasks", default="sst2,mr,snli,qqp")
    p.add_argument("--eval-examples", type=int, default=200)
    p.add_argument("--prompt-length", type=int, default=20)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    p.add_argument("--json", default=None, help="also write the results here")
    o = p.parse_args(argv)
    if o.threads:
        torch.set_num_threads(o.threads)
    out = []
    for backbone in o.backbone.split(","):
        r = measure(backbone, o.prompts, o.tasks.split(","), o.eval_examples, o.prompt_length, o.eval_batch_size,
                    o.rounds)
        out.append(r)
        b = r["best_seconds"]
        print(f"{backbone}: {o.prompts} prompts x {len(r['tasks'])} tasks x {o.eval_examples} examples: one at a time "
              f"{b['one_at_a_time']:.1f} s, together {b['together']:.1f} s -> {r['speedup']:.2f}x "
              f"(best of {o.rounds}; same metrics: {r['same_metrics']})", flush=True)
    if o.json:
        with open(o.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
