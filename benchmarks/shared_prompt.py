"""What computing a shared prompt once per batch gives a decoder-only backbone: one training forward + backward
(class scores, cross-entropy, the prompt's gradient) with the prompt passed as one [L, H] tensor (the causal_lm
family runs it once and the rows attend to its key/value cache) against the same prompt repeated per row
[B, L, H] (every row runs whole, as before the change), on the same batches (a random sample of the training rows, grouped by length as ptt trains), interleaved, in one
process.
Prints ms per step for both, the ratio, and the largest difference of scores and gradients.

    python benchmarks/shared_prompt.py                      # SmolLM2-135M-Instruct, SST-2, prompt 20, batch 16
    python benchmarks/shared_prompt.py --backbone PATH --prompt-length 100 --batch-size 8
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ptt.config import ScoreConfig  # noqa: E402
from ptt.core.encode import collate  # noqa: E402
from ptt.core.order import by_length  # noqa: E402
from ptt.core.tasks import get_task  # noqa: E402
from ptt.scoring import open_scorer  # noqa: E402


def step(model, batch, labels, prompt, repeat: bool):
    """(scores, the prompt's gradient, seconds) of one forward + backward."""
    t = time.perf_counter()
    given = prompt.expand(batch["input_ids"].shape[0], -1, -1) if repeat else prompt
    scores = model(batch["input_ids"], batch["attention_mask"], labels, prompt=given)
    grad, = torch.autograd.grad(F.cross_entropy(scores, batch["labels"]), prompt)
    return scores.detach(), grad, time.perf_counter() - t


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backbone", default="smollm2")
    p.add_argument("--task", default="sst2")
    p.add_argument("--prompt-length", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--batches", type=int, default=6)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", default=None)
    o = p.parse_args(argv)
    if o.threads:
        torch.set_num_threads(o.threads)
    scorer = open_scorer(ScoreConfig(backbone=o.backbone, precision="fp32", max_length=o.max_length),
                         o.prompt_length)
    try:
        task = get_task(o.task)
        rows, labels, model = scorer.rows(task, "train"), scorer.labels(task), scorer.model
        g = torch.Generator().manual_seed(0)
        prompt = (0.5 * torch.randn(o.prompt_length, scorer.frozen.hidden, generator=g)).requires_grad_()
        sample = random.Random(0).sample(range(len(rows)), min(len(rows), o.batch_size * o.batches))
        order = by_length(sample, [len(r["input_ids"]) for r in rows])  # length-grouped batches, as ptt trains
        batches = [collate([rows[j] for j in order[i:i + o.batch_size]], scorer.tokenizer.pad_token_id)
                   for i in range(0, len(order), o.batch_size)]
        step(model, batches[-1], labels, prompt, False)  # warm-up
        times, diff = {"shared": [], "per_row": []}, {"scores": 0.0, "grad": 0.0}
        for _ in range(o.rounds):
            for batch in batches:
                s1, g1, t1 = step(model, batch, labels, prompt, False)
                s0, g0, t0 = step(model, batch, labels, prompt, True)
                times["shared"].append(t1)
                times["per_row"].append(t0)
                diff["scores"] = max(diff["scores"], (s1 - s0).abs().max().item())
                diff["grad"] = max(diff["grad"], ((g1 - g0).abs().max() / g0.abs().max()).item())
    finally:
        scorer.close()
    ms = {k: 1000 * sum(v) / len(v) for k, v in times.items()}
    width = sum(b["attention_mask"].shape[1] for b in batches) / len(batches)
    res = {"backbone": o.backbone, "prompt_length": o.prompt_length, "batch_size": o.batch_size,
           "mean_padded_width": width, "ms_per_step": ms, "speedup": ms["per_row"] / ms["shared"],
           "max_abs_score_diff": diff["scores"], "max_rel_grad_diff": diff["grad"], "threads": torch.get_num_threads()}
    print(f"{o.backbone}, prompt {o.prompt_length}, batch {o.batch_size}, mean padded width {width:.1f} tokens, "
          f"{len(times['shared'])} forward+backward each: prompt per row {ms['per_row']:.0f} ms, shared prompt "
          f"{ms['shared']:.0f} ms -> {res['speedup']:.2f}x; largest difference: scores {diff['scores']:.2g}, "
          f"gradient {diff['grad']:.2g} (relative to its largest element)", flush=True)
    if o.json:
        Path(o.json).write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
