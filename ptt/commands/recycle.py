"""`ptt transfer recycle`: a prompt moved to another backbone from the two backbones' vocabulary embeddings alone
(no task data, nothing trained on the target); writes a regular prompt artifact for the target backbone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ptt.config import RecycleConfig
from ptt.families import resolve_family
from ptt.families.loading import load_config, local_path
from ptt.runtime.artifacts import check_output_dir, load_prompt, save_prompt
from ptt.transfer.recycle import recycle_artifact


def run(cfg: RecycleConfig) -> dict[str, Any]:
    out = Path(cfg.output_dir)
    check_output_dir(out, cfg.overwrite)
    meta = load_prompt(cfg.prompt)[1]
    config = load_config(cfg.target_backbone)
    family = resolve_family(config, None, cfg.target_backbone).name
    tensor, info = recycle_artifact(cfg.prompt, cfg.target_backbone, cfg.method, cfg.max_tokens)
    save_prompt(out, tensor, {"backbone": cfg.target_backbone, "backbone_path": local_path(cfg.target_backbone),
                              "family": family, "task": meta.get("task"), "step": 0, "metrics": {},
                              "max_length": meta.get("max_length", 128), "model_type": config.model_type,
                              "init": info, "format": "ptt-prompt-v1"})
    return {"output_dir": str(out), "task": meta.get("task"), "shape": list(tensor.shape), "method": cfg.method,
            "shared_tokens": info["shared_tokens"], "fit_relative_residual": info["fit_relative_residual"]}
