"""`ptt prompts flatten`: an attention mixture exported as one plain prompt, the mixture's prompt averaged over the
training inputs of its task, for tools that take a single prompt (PEFT, `--init-from`, the transfer matrix)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ptt.config import FlattenConfig
from ptt.core.encode import collate
from ptt.core.tasks import get_task
from ptt.runtime import dist
from ptt.runtime.artifacts import check_output_dir, prompt_meta, save_prompt
from ptt.scoring import config_for_artifact, open_scorer
from ptt.transfer.sources.mixture import load_mixture, mean_prompt


def run(cfg: FlattenConfig) -> dict[str, Any]:
    check_output_dir(cfg.output_dir, cfg.overwrite)
    module, meta = load_mixture(cfg.mixture, flag="--mixture")
    task = get_task(cfg.task or meta.get("task"))
    scorer = open_scorer(config_for_artifact(meta, cfg), meta["length"], prompt_module=module)
    try:
        rows = scorer.rows(task, "train")
        mixture, embed = scorer.model.prompt, scorer.model.backbone.get_input_embeddings()

        def batches():
            for start in range(0, len(rows), scorer.eval_batch_size):
                batch = collate(rows[start: start + scorer.eval_batch_size], scorer.tokenizer.pad_token_id)
                ids, mask = batch["input_ids"].to(scorer.device), batch["attention_mask"].to(scorer.device)
                with torch.no_grad():
                    yield embed(ids), mask

        prompt = mean_prompt(mixture, batches())
    finally:
        scorer.close()
    info = {"init": "mixture_mean", "mixture": str(Path(cfg.mixture).resolve()), "mixture_sha256": meta["sha256"],
            "task": task.name, "inputs": len(rows), "sources": meta["sources"]}
    if dist.is_main():
        save_prompt(Path(cfg.output_dir), prompt, prompt_meta(
            **{k: meta.get(k) for k in ("backbone", "backbone_path", "family", "max_length", "model_type", "task",
                                        "step")}, metrics={}, init=info))
    return {"output_dir": str(cfg.output_dir), "inputs": len(rows), "shape": list(prompt.shape)}
