"""Examples -> token ids for a family, and padding into batches. No model code."""

from __future__ import annotations

from typing import Sequence

import torch


def render(template: str, text_a: str, text_b: str) -> str:
    """One example as the text the backbone reads."""
    return template.format(a=text_a, b=text_b).strip()


def encode_texts(tokenizer, texts: Sequence[str], family: str, max_length: int) -> list[dict]:
    """Token ids per text; masked_lm inputs end with a `<mask>` slot that truncation never cuts."""
    if family != "masked_lm":
        out = tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]
        return [{"input_ids": ids} for ids in out]
    mask_id = tokenizer.mask_token_id
    framed = tokenizer(tokenizer.mask_token)["input_ids"]  # e.g. [<s>, <mask>, </s>]: the special-token frame
    cut = framed.index(mask_id)
    prefix, suffix = framed[:cut], framed[cut + 1 :]
    bodies = tokenizer(list(texts), add_special_tokens=False, truncation=True,
                       max_length=max_length - len(framed))["input_ids"]
    rows = []
    for body in bodies:
        ids = prefix + body + [mask_id] + suffix
        rows.append({"input_ids": ids, "mask_pos": len(prefix) + len(body)})
    return rows


def encode_dataset(ds, task, tokenizer, family: str, max_length: int) -> list[dict]:
    """Rows with input_ids, label (and mask_pos for masked_lm), in dataset order."""
    texts = [render(task.template, a, b) for a, b in zip(ds["text_a"], ds["text_b"])]
    rows = encode_texts(tokenizer, texts, family, max_length)
    for row, label in zip(rows, ds["label"]):
        row["label"] = int(label)
    return rows


def collate(rows: Sequence[dict], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest row. Returns input_ids [B, T], attention_mask [B, T], labels [B] (+ mask_pos [B])."""
    width = max(len(r["input_ids"]) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r["input_ids"])] = torch.as_tensor(r["input_ids"])
        mask[i, : len(r["input_ids"])] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": torch.as_tensor([r["label"] for r in rows])}
    if "mask_pos" in rows[0]:
        batch["mask_pos"] = torch.as_tensor([r["mask_pos"] for r in rows])
    return batch


def label_text_inputs(tokenizer, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids [C, T], mask [C, T]) of the label verbalizer texts (encoder family)."""
    enc = tokenizer(list(texts), padding=True, return_tensors="pt")
    return enc["input_ids"], enc["attention_mask"]
