"""Random vs transferred initialization: the per-seed and aggregate convergence report (steps to target, area
under the curve, speedup) of runs that `ptt transfer compare` trained, and its markdown and figure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptt.config import TrainConfig
from ptt.core.tasks import get_task
from ptt.runtime import dist
from ptt.runtime.artifacts import atomic_write_bytes, atomic_write_json
from ptt.transfer.curves import area_under_curve, improvement_target, json_safe, mean_std, speedup, steps_to_target
from ptt.transfer.plots import mean_curves

ARMS = ("random", "transfer")


@dataclass(frozen=True)
class Target:
    """How the target level is set from a seed's random arm: "improvement" (m0 + f x (best - m0)),
    "of_best" (f x best) or "absolute" (a metric value)."""

    kind: str = "improvement"
    value: float = 0.9

    def level(self, random_curve) -> float:
        if self.kind == "improvement":
            return improvement_target(random_curve, self.value)
        if self.kind == "of_best":
            return self.value * max(m for _, m in random_curve)
        return self.value

    def describe(self) -> str:
        return {"improvement": f"random arm's step-0 metric + {self.value} x (its best - its step-0 metric)",
                "of_best": f"{self.value} x the random arm's best metric",
                "absolute": f"metric >= {self.value}"}[self.kind]


def metric_name(task: str) -> str:
    return get_task(task).primary


def read_curve(path: Path, metric: str) -> list[tuple[int, float]]:
    """(step, metric) pairs from a run's metrics.jsonl (every rank reads rank 0's file after a barrier)."""
    dist.barrier()
    return [(row["step"], row[metric]) for row in map(json.loads, path.read_text().splitlines()) if row]


def seed_summary(random_curve, transfer_curve, target: Target) -> dict[str, Any]:
    """Per-seed figures of both arms against this seed's random-arm target."""
    level = target.level(random_curve)
    random_best = max(m for _, m in random_curve)
    arms = {}
    for arm, curve in (("random", random_curve), ("transfer", transfer_curve)):
        arms[arm] = {"curve": [list(p) for p in curve], "step0": curve[0][1], "best": max(m for _, m in curve),
                     "steps_to_target": steps_to_target(curve, level),
                     "steps_to_random_best": steps_to_target(curve, random_best), "auc": area_under_curve(curve)}
    return {"target": level, "arms": arms,
            "speedup": speedup(arms["random"]["steps_to_target"], arms["transfer"]["steps_to_target"]),
            "speedup_to_random_best": speedup(arms["random"]["steps_to_random_best"],
                                              arms["transfer"]["steps_to_random_best"])}


def build_report(curves, base: TrainConfig, source: str, meta: dict, target: Target) -> dict[str, Any]:
    seeds = [seed_summary(r, t, target) for r, t in zip(curves["random"], curves["transfer"])]
    fields = ("step0", "best", "steps_to_target", "steps_to_random_best", "auc")
    aggregate = {arm: {f: mean_std([s["arms"][arm][f] for s in seeds]) for f in fields} for arm in ARMS}
    for arm in ARMS:
        aggregate[arm]["never_reached_target"] = sum(s["arms"][arm]["steps_to_target"] is None for s in seeds)
    return {
        "task": base.task, "metric": metric_name(base.task), "source": {"path": str(source), "task": meta.get("task"),
                                                                       "sha256": meta.get("sha256")},
        "target_rule": target.describe(), "seeds": [base.seed + i for i in range(len(seeds))], "per_seed": seeds,
        "aggregate": aggregate, "speedup": mean_std([s["speedup"] for s in seeds]),
        "speedup_to_random_best": mean_std([s["speedup_to_random_best"] for s in seeds]),
        "speedup_at_least": mean_std([speedup(s["arms"]["random"]["steps_to_target"],
                                              max(s["arms"]["transfer"]["steps_to_target"], base.eval_every))
                                      if s["arms"]["transfer"]["steps_to_target"] is not None else None
                                      for s in seeds]),
        "step0_gap": mean_std([s["arms"]["transfer"]["step0"] - s["arms"]["random"]["step0"] for s in seeds]),
        "config": {k: v for k, v in base.to_dict().items() if k not in ("output_dir", "tb_dir", "init_from")},
    }


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "report.json", json_safe(report))
    atomic_write_bytes(out / "report.md", render_markdown(report).encode())
    arms = {}
    for arm in ARMS:
        runs = [s["arms"][arm]["curve"] for s in report["per_seed"]]
        steps = [p[0] for p in runs[0]]
        cols = list(zip(*[[p[1] for p in run] for run in runs]))
        stats = [mean_std(list(c)) for c in cols]
        arms[arm] = (steps, [s["mean"] for s in stats], [s["std"] for s in stats])
    mean_target = mean_std([s["target"] for s in report["per_seed"]])["mean"]
    mean_curves(arms, report["metric"], mean_target, out / "curves.png")


def render_markdown(report: dict[str, Any]) -> str:
    def fmt(stat, digits=3):
        notes = [f"{stat['missing']} never reached"] * bool(stat["missing"])
        notes += [f"{stat['infinite']} unbounded: the transferred prompt is at the target at step 0"] * bool(
            stat["infinite"])
        value = "—" if stat["mean"] is None else f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"
        return value + (f" ({'; '.join(notes)})" if notes else "")

    agg = report["aggregate"]
    lines = [f"# {report['source']['task']} -> {report['task']}: random vs transferred initialization", "",
             f"{len(report['seeds'])} seeds; metric {report['metric']}; target: {report['target_rule']}.", "",
             "| | random | transfer |", "|---|---|---|"]
    for field, label in (("step0", "metric at step 0"), ("best", "best metric"), ("auc", "area under curve"),
                         ("steps_to_target", "steps to target"), ("steps_to_random_best", "steps to random's best")):
        lines.append(f"| {label} | {fmt(agg['random'][field])} | {fmt(agg['transfer'][field])} |")
    lines += ["", f"Speedup (random steps / transferred steps to target): {fmt(report['speedup'], 2)}",
              f"Speedup lower bound (transferred steps counted as at least one eval interval): "
              f"{fmt(report['speedup_at_least'], 2)}",
              f"Speedup to the random arm's best: {fmt(report['speedup_to_random_best'], 2)}",
              f"Step-0 gap (transfer - random): {fmt(report['step0_gap'])}", ""]
    return "\n".join(lines)
