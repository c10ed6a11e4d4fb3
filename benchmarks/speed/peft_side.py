"""PEFT's side of the benchmark: PEFT prompt tuning under the Hugging Face `Trainer` (timed by a callback, batches
recorded by a collator wrapper) on ptt's token ids, and PEFT's `generate` for scoring and decoding."""

from __future__ import annotations

import statistics
import tempfile
import time

import torch
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from ptt.core.encode import collate
from ptt.core.order import by_length
from ptt.core.tasks import get_task
from ptt.families import FAMILIES
from ptt.families.base import label_token_ids
from ptt.families.loading import load_frozen, load_tokenizer
from ptt.scoring import cut_at_eos
from speed.common import (CAUSAL, FAMILY, SEED, batch_stats, generation_budget, memory_mark, memory_peak_mib,
                          on_cuda, resolve_precision, row_length, sync, without_launcher_env)

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
            t = cut_at_eos(t, tok.eos_token_id) if stop_at_eos else t  # fixed: all `budget` tokens
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
