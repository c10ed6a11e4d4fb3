"""Scoring: the same PromptModel forward as training, sharded across ranks, metrics on every rank."""

from __future__ import annotations

from dataclasses import replace

import torch

from ptt import dist
from ptt.encode import collate
from ptt.metrics import compute
from ptt.order import by_length, eval_shard


@torch.no_grad()
def predict(session, rows: list[dict], use_prompt: bool = True) -> list[int]:
    """Predicted label index of every row (all ranks take part and all get the full list)."""
    # longest first: batches of similar widths pad less; predictions are mapped back to rows by index
    shard = by_length(eval_shard(len(rows), dist.rank(), dist.world_size()), [len(r["input_ids"]) for r in rows])
    size = session.cfg.eval_batch_size
    pairs = []
    for start in range(0, len(shard), size):
        idx = shard[start : start + size]
        scores = forward(session, collate([rows[i] for i in idx], session.tokenizer.pad_token_id), use_prompt)
        pairs.extend(zip(idx, scores.argmax(-1).tolist()))
    merged = dict(p for part in dist.all_gather_objects(pairs) for p in part)  # repeats from padding collapse
    return [merged[i] for i in range(len(rows))]


def evaluate(session, use_prompt: bool = True) -> dict[str, float]:
    """The task's metrics on the eval split."""
    rows = session.eval_rows
    preds = predict(session, rows, use_prompt)
    return compute(session.task.metrics, preds, [r["label"] for r in rows])


def forward(session, batch: dict[str, torch.Tensor], use_prompt: bool = True) -> torch.Tensor:
    """Class scores [B, C] through the DeepSpeed engine (which gathers ZeRO-3 partitions)."""
    device = session.device
    return session.engine(
        input_ids=batch["input_ids"].to(device),
        attention_mask=batch["attention_mask"].to(device),
        mask_pos=batch["mask_pos"].to(device) if "mask_pos" in batch else None,
        use_prompt=use_prompt,
    )


def scoring_config(meta: dict, length: int, task: str, base=None, **overrides):
    """A config that only scores prompts of `length` made for the backbone in `meta` (an artifact's json):
    its backbone, family and max_length, `base`'s other settings, no training (one step, one row per rank)."""
    from ptt.config import TrainConfig

    fields = dict(backbone=meta.get("backbone_path") or meta["backbone"], family=meta.get("family"), task=task,
                  prompt_length=length, init_from=None, max_length=meta.get("max_length", 128), max_steps=1,
                  eval_every=1, batch_size=dist.world_size(), micro_batch_size=None)
    return replace(base or TrainConfig(), **{**fields, **overrides})


def eval_prompt(prompt: str, task: str | None = None, backbone: str | None = None, **overrides) -> dict:
    """Metrics of a saved prompt on `task` (default: its own), with the scorer used in training."""
    from ptt.backbones import hidden_size, load_config, require_hidden
    from ptt.checkpoint import load_prompt
    from ptt.session import open_session

    tensor, meta = load_prompt(prompt)
    if backbone:  # another backbone: detect its family
        overrides.update(backbone=backbone, family=None)
    cfg = scoring_config(meta, tensor.shape[0], task or meta["task"], init_from=str(prompt), **overrides)
    require_hidden(tensor, meta, prompt, cfg.backbone, hidden_size(load_config(cfg.backbone)), "--prompt")
    session = open_session(cfg, need_train_data=False)
    try:
        return {"task": session.task.name, "prompt": str(prompt), **evaluate(session)}
    finally:
        session.close()
