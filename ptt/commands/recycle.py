"""`ptt transfer recycle`: a prompt moved to another backbone from the two backbones' vocabulary embeddings alone
(no task data, nothing trained on the target); writes a regular prompt artifact for the target backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ptt.config import RecycleConfig
from ptt.backbone import made_prompt_meta
from ptt.runtime.artifacts import check_output_dir, load_prompt, save_prompt
from ptt.transfer.cross_model.recycle import recycle_artifact


def run(cfg: RecycleConfig) -> dict[str, Any]:
    out = Path(cfg.output_dir)
    check_output_dir(out, cfg.overwrite)
    meta = load_prompt(cfg.prompt)[1]
    tensor, info = recycle_artifact(cfg.prompt, cfg.target_backbone, cfg.method, cfg.max_tokens)
    save_prompt(out, tensor, made_prompt_meta(cfg.target_backbone, max_length=meta.get("max_length", 128), init=info,
                                              task=meta.get("task")))
    return {"output_dir": str(out), "task": meta.get("task"), "shape": list(tensor.shape), "method": cfg.method,
            "shared_tokens": info["shared_tokens"], "fit_relative_residual": info["fit_relative_residual"]}
