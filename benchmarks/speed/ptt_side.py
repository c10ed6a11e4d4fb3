"""ptt's side of the benchmark, through its public API: `TrainConfig`, `build_trainer`, `Trainer.step` in a timed
loop, the trainer's `timer` hook for where a step goes, and the scorer's `predict` and `generate_ids_many`."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time

import torch

from ptt.config import TrainConfig
from ptt.training import build_trainer
from speed.common import SEED, flop_params, generation_budget, memory_mark, memory_peak_mib, sync

def ptt_config(o, backbone: str, out_dir: str) -> TrainConfig:
    total = o.steps + o.breakdown_steps
    return TrainConfig(backbone=backbone, task=o.task, prompt_length=o.prompt_length, max_length=o.seq_len,
                       max_steps=total, eval_every=total, batch_size=o.batch_size, lr=o.lr, precision=o.precision,
                       ds_config=o.ds_config, max_train_examples=o.train_examples, max_eval_examples=o.eval_examples,
                       eval_batch_size=o.eval_batch_size, output_dir=out_dir, seed=SEED, batch_order=o.batch_order,
                       **({"max_new_tokens": o.gen_max_new_tokens} if o.gen_max_new_tokens else {}))


def run_ptt(o, backbone: str, stats: list[dict], first: bool, rows: list[dict] | None = None) -> dict:
    """ptt's own API: build_trainer, then trainer.step in a timed loop. In round 1 also the step breakdown
    (extra steps), the FLOP parameter count and, for T5, rank-classification scoring."""
    with tempfile.TemporaryDirectory() as tmp:
        base = memory_mark()
        trainer = build_trainer(ptt_config(o, backbone, tmp))
        try:
            if rows is not None:  # the benchmark's rows (PEFT's examples) are ptt's own token ids
                mine = trainer.view().train_rows
                assert [(r["input_ids"], r.get("target_ids")) for r in mine] == \
                    [(r["input_ids"], r.get("target_ids")) for r in rows], "ptt encoded other token ids"
            marks = [time.perf_counter()]
            for step in range(o.steps):
                tokens = trainer.step(step).tokens
                marks.append(time.perf_counter())
                assert tokens == stats[step]["real"], "ptt read other batches than the benchmark planned"
            res = {"durations": [b - a for a, b in zip(marks, marks[1:])], "peak_mem_mib": memory_peak_mib(base),
                   "threads": torch.get_num_threads(), "stats": stats, "batch_order": o.batch_order}
            if first:
                frozen = trainer.scorer.frozen
                res.update(breakdown_ms=breakdown(trainer, o), flop_params=flop_params(trainer.scorer.model.backbone),
                           optimizer=trainer.optimizer_name, zero_stage=frozen.facts()["zero_stage"])
                if frozen.family.name == "seq2seq":
                    res["scoring"] = rank_classify(trainer, o)
                if trainer.view().task.kind == "generation":
                    res["generation"] = ptt_generate(trainer, o)
        finally:
            trainer.close()
    return res


def breakdown(trainer, o) -> dict:
    """Mean ms per step in each phase the trainer's `timer` hook names (forward, backward, optimizer step;
    synchronized on CUDA) and the rest, over --breakdown-steps extra steps."""
    spent: dict[str, float] = {"forward": 0.0, "backward": 0.0, "optimizer step": 0.0}

    @contextlib.contextmanager
    def timer(phase: str):
        sync()
        t = time.perf_counter()
        yield
        sync()
        spent[phase] = spent.get(phase, 0.0) + time.perf_counter() - t

    untimed, trainer.timer = trainer.timer, timer
    t = time.perf_counter()
    try:
        for step in range(o.steps, o.steps + o.breakdown_steps):
            trainer.step(step)
    finally:
        trainer.timer = untimed
    n = max(o.breakdown_steps, 1)
    out = {k: 1000 * v / n for k, v in spent.items()}
    out["other (collate, .item())"] = 1000 * (time.perf_counter() - t) / n - sum(out.values())
    return out


def rank_classify(trainer, o) -> dict:
    """ptt's scorer on the dev rows (one decoder step, argmax over the label words' logits), timed."""
    view, scorer = trainer.view(), trainer.scorer
    rows = view.eval_rows
    scorer.predict(rows[: o.eval_batch_size], view.labels)  # warm-up
    sync()
    t = time.perf_counter()
    preds = scorer.predict(rows, view.labels)
    dt = time.perf_counter() - t
    classes = len(view.task.label_names)
    return {"examples_per_s": len(rows) / dt, "examples": len(rows), "preds": preds,
            "invalid": sum(not (isinstance(p, int) and 0 <= p < classes) for p in preds),
            "accuracy": sum(p == r["label"] for p, r in zip(preds, rows)) / len(rows)}


def ptt_generate(trainer, o) -> dict:
    """ptt's greedy decoding of the dev rows (batches of --eval-batch-size, longest first, KV cache), timed after
    one warm-up batch, two ways, both through `Scorer.generate_ids_many` (as `ptt eval` runs it) and decoded to
    text: `fixed`, exactly N new tokens per row (stop_at_eos False), the same work as PEFT's fixed run; and `eos`,
    a batch stops when all its rows emitted EOS."""
    view, scorer = trainer.view(), trainer.scorer
    rows, budget, tok = view.eval_rows, generation_budget(o, view.task), scorer.tokenizer
    scorer.generate(rows[: o.eval_batch_size], view.task, use_cache=True)  # warm-up
    out = {}
    for mode in ("fixed", "eos"):
        sync()
        t = time.perf_counter()
        ids = scorer.generate_ids_many(rows, view.task, max_new_tokens=budget, stop_at_eos=mode == "eos")[0]
        texts = [tok.decode(i, skip_special_tokens=True).strip() for i in ids]
        sync()
        dt = time.perf_counter() - t
        assert mode == "eos" or {len(i) for i in ids} == {budget}
        out[mode] = {"examples_per_s": len(rows) / dt, "examples": len(rows), "seconds": dt,
                     "new_tokens_per_example": statistics.mean(len(i) for i in ids), "max_new_tokens": budget,
                     "sample_outputs": sorted(set(texts))[:4]}
    return out
