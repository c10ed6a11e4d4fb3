"""`ptt transfer compare`: train a target prompt from random and from a source prompt, seed by seed, under
identical data order, hyperparameters and evaluation points; report convergence speed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ptt.commands import train as train_command
from ptt.config import CompareConfig, TrainConfig
from ptt.families.loading import hidden_size, load_config, require_hidden
from ptt.runtime import dist
from ptt.runtime.artifacts import backbone_id, load_prompt
from ptt.transfer.comparison import ARMS, Target, build_report, metric_name, read_curve, write_report


def run(cfg: CompareConfig) -> dict[str, Any]:
    """Train both arms for seeds cfg.seed .. cfg.seed + cfg.seeds - 1; write report.json/.md, curves.png, tb/."""
    tensor, meta = load_prompt(cfg.source, flag="--source")
    backbone = cfg.backbone or backbone_id(meta)
    require_hidden(tensor, meta, cfg.source, backbone, hidden_size(load_config(backbone)), "--source")
    base = cfg.train_config(backbone=backbone, prompt_length=tensor.shape[0])
    out = Path(cfg.output_dir)
    curves: dict[str, list[list[tuple[int, float]]]] = {arm: [] for arm in ARMS}
    for i in range(cfg.seeds):
        for arm in ARMS:
            arm_cfg = arm_config(base, arm, base.seed + i, cfg.source, out)
            train_command.run(arm_cfg)
            curves[arm].append(read_curve(Path(arm_cfg.output_dir) / "metrics.jsonl", metric_name(base.task)))
    report = build_report(curves, base, cfg.source, meta, Target(*cfg.target_rule()))
    if dist.is_main():
        write_report(report, out)
    return report


def arm_config(base: TrainConfig, arm: str, seed: int, source: str, out: Path) -> TrainConfig:
    """Same everything for both arms; only the starting prompt differs."""
    name = f"{arm}-seed{seed}"
    return replace(base, seed=seed, init_from=source if arm == "transfer" else None,
                   output_dir=str(out / "runs" / name), tb_dir=str(out / "tb" / name), resume=False, overwrite=True)
