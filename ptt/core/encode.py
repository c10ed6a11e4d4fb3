"""Examples -> token ids through a family's encoder, and padding into batches. No model code."""

from __future__ import annotations

from typing import Sequence

import torch

from ptt.core.data import load_files, load_task_split
from ptt.core.tasks import TaskSpec
from ptt.errors import PttError

ROW_KEYS = ("input_ids", "label")  # every other key of a row is a per-row integer a family adds (e.g. mask_pos)


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
    path = data.train_file if split == "train" else data.eval_file
    if path:
        fields = tuple(f.strip() for f in data.text_field.split(",")) if data.text_field else \
            (("text_a", "text_b") if task.pair else ("text",))
        ds = load_files(path, fields, data.label_field, task.label_names, flag=f"--{split}-file")
    else:
        ds = load_task_split(task, split, data.data_dir, data.data_source)
    limit = data.max_train_examples if split == "train" else data.max_eval_examples
    if limit is not None and len(ds) > limit:
        ds = ds.select(range(limit))
    if len(ds) == 0:
        raise PttError(f"--task {task.name}: the {split} split is empty; check --data-dir or --{split}-file")
    return encode_dataset(ds, task, tokenizer, family, max_length)


def collate(rows: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest row. Returns input_ids [B, T], attention_mask [B, T], labels [B], and each
    family extra (e.g. mask_pos [B])."""
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r["input_ids"])] = torch.as_tensor(r["input_ids"])
        mask[i, : len(r["input_ids"])] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": torch.as_tensor([r["label"] for r in rows])}
    for key in rows[0]:
        if key not in ROW_KEYS:
            batch[key] = torch.as_tensor([r[key] for r in rows])
    return batch
