"""`ptt transfer compare`: any number of initializations (arms) trained side by side on the same seeds, data order,
hyperparameters and evaluation points, on one target task; report.json/.md, curves.png, tb/<arm>-seed<N>/."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from ptt.backbone import made_prompt_meta
from ptt.config import CompareConfig, TrainConfig
from ptt.config.arms import HELP, Arm, baseline_arm, run_names
from ptt.errors import PttError
from ptt.families.loading import hidden_size, load_config
from ptt.recipe.train import run as train_run
from ptt.runtime import dist
from ptt.runtime.artifacts import atomic_write_json, backbone_id, find_artifacts, load_prompt, save_prompt
from ptt.transfer.comparison.report import Target, build_report, metric_name, read_rows, write_report
from ptt.transfer.comparison.curves import mean_std
from ptt.transfer.cross_model.recycle import recycle_artifact
from ptt.transfer.sources.artifact import read_artifact
from ptt.transfer.sources.combine import average_top
from ptt.transfer.sources.ranking import candidates, rank_library

STARTS = "starts"  # prompts the report's arms start from (averaged, recycled), written once, used by every seed


def run(cfg: CompareConfig) -> dict[str, Any]:
    """Train every arm for seeds cfg.seed .. cfg.seed + cfg.seeds - 1; write the report."""
    arms = cfg.arm_list()
    for arm in arms:  # a path that is not there is named before anything else is inferred from the arms
        if arm.path is not None and not Path(arm.path).exists():
            what = "library folder" if arm.kind in LIBRARY_ARMS else "prompt artifact"
            raise PttError(f"--arms {arm.spec}: {arm.path} does not exist; give a {what} ({HELP})")
    baseline = baseline_arm(arms, cfg.baseline_arm)
    backbone = cfg.backbone or inferred_backbone(arms)
    hidden = hidden_size(load_config(backbone))
    base = TrainConfig.of(cfg, backbone=backbone, prompt_length=inferred_length(arms, cfg.prompt_length))
    for arm in arms:  # every prompt an arm names is checked before anything trains
        if arm.kind == "from":
            check_prompt(arm, base, hidden)
    out, names = Path(cfg.output_dir), run_names(arms)
    dist.init()
    rankings: dict[tuple, dict] = {}  # one ranking per library, shared by its auto and avg arms
    starts = {arm.spec: prepare_start(arm, base, out, names[arm.spec], rankings) for arm in arms}
    metric = metric_name(base.task)
    curves: dict[str, list] = {a.spec: [] for a in arms}
    macro: dict[str, list] = {a.spec: [] for a in arms}
    orders: list[dict[str, str]] = []
    for i in range(cfg.seeds):
        orders.append({})
        for arm in arms:
            run_cfg = arm_config(base, starts[arm.spec], base.seed + i, f"{names[arm.spec]}-seed{base.seed + i}", out)
            summary = train_run(run_cfg)
            rows = read_rows(Path(run_cfg.output_dir) / "metrics.jsonl")
            curves[arm.spec].append([(r["step"], r[metric]) for r in rows])
            if "macro_f1" in rows[0]:
                macro[arm.spec].append([r["macro_f1"] for r in rows])
            orders[-1][arm.spec] = summary.get("data_order_sha256") if dist.is_main() else None
    extras = {"data_order": orders, "data_order_shared": all(len(set(o.values())) == 1 for o in orders)
              if dist.is_main() else None, "source": legacy_source(arms, starts)}
    if all(macro.values()):
        extras["macro_f1"] = {s: {"step0": mean_std([c[0] for c in v]), "best": mean_std([max(c) for c in v])}
                              for s, v in macro.items()}
    first = out / "runs" / f"{names[baseline.spec]}-seed{base.seed}" / "baseline.json"
    extras["majority_class"] = json.loads(first.read_text()).get("majority_class") if first.is_file() else None
    info = [{"spec": a.spec, "name": names[a.spec], "kind": a.kind, "start": starts[a.spec]["start"]} for a in arms]
    report = build_report(curves, base, info, baseline.spec, Target(*cfg.target_rule()), extras)
    if dist.is_main():
        write_report(report, out)
    return report


LIBRARY_ARMS = ("auto", "avg", "mix")


def first_prompt(arms: list[Arm], kinds: tuple[str, ...]) -> tuple[Any, dict] | None:
    """(tensor, meta) of the first prompt the arms name: a from:/recycle: prompt among `kinds` first, else the first
    artifact of the first library arm's folder; None when no arm names one."""
    for arm in arms:
        if arm.kind in kinds:
            return load_prompt(arm.path, flag="--arms")
    for arm in arms:
        found = find_artifacts(Path(arm.path)) if arm.kind in LIBRARY_ARMS and Path(arm.path).is_dir() else []
        if found:
            return load_prompt(found[0], flag="--arms")
    return None


def inferred_backbone(arms: list[Arm]) -> str:
    """The backbone of the first from: prompt, else of the first library's first prompt."""
    found = first_prompt(arms, ("from",))
    if found is None:
        raise PttError("--backbone: no from:/auto:/avg:/mix: arm names a prompt of the target backbone; pass "
                       "--backbone")
    return backbone_id(found[1])


def inferred_length(arms: list[Arm], default: int) -> int:
    """The length of the first prompt an arm names (from:, recycle:, else a library's first), else --prompt-length."""
    found = first_prompt(arms, ("from", "recycle"))
    return default if found is None else found[0].shape[0]


def require_length(arm: Arm, length: int, base: TrainConfig) -> None:
    if length != base.prompt_length:
        raise PttError(f"--arms {arm.spec}: prompt length {length}, but the comparison trains prompts of "
                       f"length {base.prompt_length}; compare prompts of one length")


def check_prompt(arm: Arm, base: TrainConfig, hidden: int) -> None:
    artifact = read_artifact(arm.path, "--arms", mixtures=False)
    artifact.require_fits(base.backbone, hidden, f"--arms {arm.spec}")
    require_length(arm, artifact.length, base)


def prepare_start(arm: Arm, base: TrainConfig, out: Path, name: str, rankings: dict[str, dict]) -> dict[str, Any]:
    """{"init", "init_from", "start"} of an arm: the --init / --init-from its runs get, and what the start was made
    of. Library arms are ranked once (the base seed's training sample), so every seed starts from the same prompt."""
    if arm.init is not None:
        return {"init": arm.init, "init_from": None, "start": None}
    if arm.kind == "from":
        return {"init": base.init, "init_from": arm.path, "start": None}
    if arm.kind == "mix":  # its sources are checked here, before any arm trains
        usable, _ = candidates(arm.path, base.task, base.backbone, base.prompt_length, strict=True,
                               flag=f"--arms {arm.spec}")
        return {"init": base.init, "init_from": None, "mixture": arm.path,
                "start": {"mixture": arm.path, "sources": [{"path": c["path"], "task": c["task"]} for c in usable]}}
    target = out / STARTS / name
    if arm.kind in ("auto", "avg"):
        key = (arm.path, arm.kind == "avg")  # avg combines prompts: a library of others is refused, not filtered
        if key not in rankings:
            rankings[key] = rank_library(arm.path, base, length=base.prompt_length, strict=key[1])
        selection = rankings[key]
        if dist.is_main():
            atomic_write_json(out / STARTS / f"{name}.selection.json", selection)
        if arm.kind == "auto":
            return {"init": base.init, "init_from": selection["choice"],
                    "start": {"rank_by": selection["rank_by"], "choice": selection["choice"]}}
        tensor, info = average_top(selection, arm.k, flag=f"--arms {arm.spec}")
    else:  # recycle: once, on rank 0 (it loads both backbones' embeddings); the others read what it wrote
        error = None
        if dist.is_main():
            try:
                tensor, info = recycle_artifact(arm.path, base.backbone, flag=f"--arms {arm.spec}")
                save_prompt(target, tensor, made_prompt_meta(base.backbone, max_length=base.max_length, init=info))
            except PttError as e:
                error = str(e.message)
        error = dist.all_gather_objects(error)[0]
        if error:
            raise PttError(error)
        tensor, meta = load_prompt(target, flag=f"--arms {arm.spec}")
        require_length(arm, tensor.shape[0], base)
        return {"init": base.init, "init_from": str(target), "start": meta["init"]}
    if dist.is_main():
        save_prompt(target, tensor, made_prompt_meta(base.backbone, max_length=base.max_length, init=info))
    dist.barrier()
    return {"init": base.init, "init_from": str(target), "start": info}


def arm_config(base: TrainConfig, start: dict[str, Any], seed: int, name: str, out: Path) -> TrainConfig:
    """Same everything for every arm; only the starting prompt differs."""
    return replace(base, seed=seed, init=start["init"], init_from=start["init_from"], mixture=start.get("mixture"),
                   library=None,
                   output_dir=str(out / "runs" / name), tb_dir=str(out / "tb" / name), resume=False, overwrite=True)


def legacy_source(arms: list[Arm], starts) -> dict[str, Any] | None:
    """The one from: arm's prompt (task, hash), as `--source` reports always named it."""
    froms = [a for a in arms if a.kind == "from"]
    if len(froms) != 1:
        return None
    meta = load_prompt(froms[0].path, flag="--arms")[1]
    return {"path": froms[0].path, "task": meta.get("task"), "sha256": meta.get("sha256")}
