"""Examples -> token ids through a family's encoder, and padding into batches. No model code."""

from __future__ import annotations

from typing import Sequence

import torch

from ptt.core.data import load_files, load_task_split
from ptt.core.generation import load_generation_split
from ptt.core.tasks import TaskSpec
from ptt.errors import PttError

ROW_KEYS = ("input_ids", "label", "target_ids", "references")
"""Keys collate handles itself; every other key of a row is a per-row integer a family adds (e.g. mask_pos)."""


def render(template: str, text_a: str, text_b: str) -> str:
    """One example as the text the backbone reads."""
    return template.format(a=text_a, b=text_b).strip()


def encode_dataset(ds, task: TaskSpec, tokenizer, family, max_length: int) -> list[dict]:
    """Rows with input_ids, label (and the family's extras), in dataset order."""
    texts = [render(task.template, a, b) for a, b in zip(ds["text_a"], ds["text_b"])]
    rows = family.encode(tokenizer, texts, max_length)
    for row, label in zip(rows, ds["label"]):
        row["label"] = int(label)
    return rows


def encode_split(data, task: TaskSpec, tokenizer, family, split: str, max_length: int) -> list[dict]:
    """Load one split (the task table, or --train-file/--eval-file) and tokenize it.

    data: any config with data_dir, data_source, train_file, eval_file, text_field, label_field,
    max_train_examples and max_eval_examples (TrainConfig, EvalConfig, ...).
    """
    if task.kind == "generation":
        return encode_generation_split(data, task, tokenizer, family, split, max_length)
    path = data.train_file if split == "train" else data.eval_file
    if path:
        fields = tuple(f.strip() for f in data.text_field.split(",")) if data.text_field else \
            (("text_a", "text_b") if task.pair else ("text",))
        ds = load_files(path, fields, data.label_field, task.label_names, flag=f"--{split}-file")
    else:
        ds = load_task_split(task, split, data.data_dir, data.data_source)
    return encode_dataset(limited(ds, data, task, split), task, tokenizer, family, max_length)


def limited(ds, data, task, split: str):
    """At most --max-train-examples / --max-eval-examples rows of `ds`; an empty split is refused."""
    limit = data.max_train_examples if split == "train" else data.max_eval_examples
    if limit is not None and len(ds) > limit:
        ds = ds.select(range(limit))
    if len(ds) == 0:
        raise PttError(f"--task {task.name}: the {split} split is empty; check --data-dir or --{split}-file")
    return ds


def encode_generation_split(data, task, tokenizer, family, split: str, max_length: int) -> list[dict]:
    """A generation task's split as rows of source ids, target ids (the first reference) and every reference."""
    if family.encode_pair is None:
        raise PttError(f"--task {task.name}: a generation task, and the {family.name} family cannot generate; use a "
                       "seq2seq (T5) or causal_lm (GPT-2, Llama, ...) backbone")
    if data.train_file or data.eval_file:
        raise PttError(f"--train-file/--eval-file: read classification data only; for --task {task.name} lay the "
                       "files out like ptt/assets/data and pass --data-dir")
    ds = limited(load_generation_split(task, split, data.data_dir, data.data_source), data, task, split)
    max_source = min(max_length, task.max_source_tokens or max_length)
    targets = [refs[0] for refs in ds["targets"]]
    rows = family.encode_pair(tokenizer, ds["source"], targets, max_source, task.max_new_tokens)
    for row, refs in zip(rows, ds["targets"]):
        row["references"] = list(refs)
    return rows


def _pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad id lists to the longest: (ids [B, T], mask [B, T])."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.as_tensor(s)
        mask[i, : len(s)] = 1
    return ids, mask


def collate(rows: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest row. Returns input_ids [B, T], attention_mask [B, T], labels [B] (classification)
    or target_ids / target_mask [B, N] (generation), and each family extra (e.g. mask_pos [B])."""
    ids, mask = _pad([r["input_ids"] for r in rows], pad_id)
    batch = {"input_ids": ids, "attention_mask": mask}
    if "label" in rows[0]:
        batch["labels"] = torch.as_tensor([r["label"] for r in rows])
    if "target_ids" in rows[0]:
        batch["target_ids"], batch["target_mask"] = _pad([r["target_ids"] for r in rows], pad_id)
    for key in rows[0]:
        if key not in ROW_KEYS:
            batch[key] = torch.as_tensor([r[key] for r in rows])
    return batch
