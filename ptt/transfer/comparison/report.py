"""The N-arm initialization report of `ptt transfer compare`: per seed and per arm the metric at step 0, the best,
the area under the curve and steps to target (target from the baseline arm of the same seed); per arm against the
baseline the paired difference per seed with a 95% interval and the seeds it wins; its markdown and figure."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptt.config import TrainConfig
from ptt.core.tasks import get_task
from ptt.runtime import dist
from ptt.runtime.artifacts import atomic_write_bytes, atomic_write_json
from ptt.transfer.comparison.curves import (area_under_curve, improvement_target, json_safe, mean_std, speedup,
                                            steps_to_target)
from ptt.transfer.comparison.paired import paired_difference
from ptt.transfer.plots import mean_curves

FIELDS = ("step0", "best", "auc", "steps_to_target", "steps_to_baseline_best")
PAIRED = ("step0", "best", "auc")
"""Figures compared seed by seed against the baseline arm (steps to target can be missing: reported as speedup)."""


@dataclass(frozen=True)
class Target:
    """How the target level is set from a seed's baseline arm: "improvement" (m0 + f x (best - m0)),
    "of_best" (f x best) or "absolute" (a metric value)."""

    kind: str = "improvement"
    value: float = 0.9

    def level(self, baseline_curve) -> float:
        if self.kind == "improvement":
            return improvement_target(baseline_curve, self.value)
        if self.kind == "of_best":
            return self.value * max(m for _, m in baseline_curve)
        return self.value

    def describe(self, baseline: str = "random") -> str:
        return {"improvement": f"{baseline} arm's step-0 metric + {self.value} x (its best - its step-0 metric)",
                "of_best": f"{self.value} x the {baseline} arm's best metric",
                "absolute": f"metric >= {self.value}"}[self.kind]


def metric_name(task: str) -> str:
    return get_task(task).primary


def read_rows(path: Path) -> list[dict[str, Any]]:
    """A run's metrics.jsonl rows (every rank reads rank 0's file after a barrier)."""
    dist.barrier()
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def arm_figures(curve, level: float, baseline_best: float) -> dict[str, Any]:
    """One run's figures against its seed's target level and its baseline arm's best."""
    return {"curve": [list(p) for p in curve], "step0": curve[0][1], "best": max(m for _, m in curve),
            "steps_to_target": steps_to_target(curve, level),
            "steps_to_baseline_best": steps_to_target(curve, baseline_best),
            "auc": area_under_curve(curve)}


def seed_summary(curves: dict[str, list], baseline: str, target: Target) -> dict[str, Any]:
    """Per-seed figures of every arm ({spec: curve}) against this seed's baseline-arm target."""
    level = target.level(curves[baseline])
    base_best = max(m for _, m in curves[baseline])
    arms = {spec: arm_figures(curve, level, base_best) for spec, curve in curves.items()}
    return {"target": level, "arms": arms,
            "speedup": {spec: speedup(arms[baseline]["steps_to_target"], a["steps_to_target"])
                        for spec, a in arms.items() if spec != baseline}}


def build_report(curves: dict[str, list[list]], base: TrainConfig, arms: list[dict[str, Any]], baseline: str,
                 target: Target, extras: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report of arms trained on seeds base.seed, base.seed + 1, ...

    curves: {spec: [curve of seed 0, curve of seed 1, ...]}; arms: [{spec, name, kind, start}] in the order given;
    baseline: the spec the others are paired against; extras: anything else to record (majority class, ...).
    """
    specs = [a["spec"] for a in arms]
    n = len(curves[baseline])
    seeds = [seed_summary({s: curves[s][i] for s in specs}, baseline, target) for i in range(n)]
    aggregate = {s: {f: mean_std([sd["arms"][s][f] for sd in seeds]) for f in FIELDS} for s in specs}
    for s in specs:
        aggregate[s]["never_reached_target"] = sum(sd["arms"][s]["steps_to_target"] is None for sd in seeds)
    paired = {s: {f: paired_difference([sd["arms"][s][f] for sd in seeds], [sd["arms"][baseline][f] for sd in seeds])
                  for f in PAIRED} for s in specs if s != baseline}
    speedups = {s: mean_std([sd["speedup"][s] for sd in seeds]) for s in specs if s != baseline}
    at_least = {s: mean_std([speedup(sd["arms"][baseline]["steps_to_target"],
                                     max(sd["arms"][s]["steps_to_target"], base.eval_every))
                             if sd["arms"][s]["steps_to_target"] is not None else None for sd in seeds])
                for s in specs if s != baseline}
    return {
        "task": base.task, "metric": metric_name(base.task), "arms": arms, "baseline": baseline,
        "target_rule": target.describe(baseline), "seeds": [base.seed + i for i in range(n)], "per_seed": seeds,
        "aggregate": aggregate, "paired": paired, "speedup": speedups, "speedup_at_least": at_least,
        **(extras or {}),
        "config": {k: v for k, v in base.to_dict().items()
                   if k not in ("output_dir", "tb_dir", "init_from", "init", "library")},
    }


def write_report(report: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "report.json", json_safe(report))
    atomic_write_bytes(out / "report.md", render_markdown(report).encode())
    bands = {}
    for arm in report["arms"]:
        runs = [s["arms"][arm["spec"]]["curve"] for s in report["per_seed"]]
        steps = [p[0] for p in runs[0]]
        stats = [mean_std(list(c)) for c in zip(*[[p[1] for p in run] for run in runs])]
        bands[arm["spec"]] = (steps, [s["mean"] for s in stats], [s["std"] for s in stats])
    mean_target = mean_std([s["target"] for s in report["per_seed"]])["mean"]
    mean_curves(bands, report["metric"], mean_target, out / "curves.png")


def fmt(stat: dict[str, Any], digits: int = 3) -> str:
    notes = [f"{stat['missing']} never reached"] * bool(stat["missing"])
    notes += [f"{stat['infinite']} unbounded (at the target at step 0)"] * bool(stat["infinite"])
    value = "—" if stat["mean"] is None else f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"
    return value + (f" ({'; '.join(notes)})" if notes else "")


def fmt_paired(p: dict[str, Any]) -> str:
    ci = "" if p["ci95"] is None else f" [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}]"
    return f"{p['mean']:+.3f}{ci}, wins {p['wins']}/{p['n']}"


def render_markdown(report: dict[str, Any]) -> str:
    agg, base = report["aggregate"], report["baseline"]
    n = len(report["seeds"])
    lines = [f"# {report['task']}: {len(report['arms'])} initializations, {n} seeds", "",
             f"Metric {report['metric']} (mean ± std over seeds); target: {report['target_rule']}. Paired differences "
             f"are arm - {base} per seed, mean [95% t interval], and the seeds the arm wins.", ""]
    if report.get("majority_class"):
        m = report["majority_class"]
        lines += [f"Majority class of the eval set: {m['label']} = {m['accuracy']:.3f} accuracy (a prompt that only "
                  "learned the label prior reaches this).", ""]
    lines += ["| arm | step 0 | best | AUC | steps to target | best − base | AUC − base | step 0 − base |",
              "|---|---|---|---|---|---|---|---|"]
    for arm in report["arms"]:
        s, a = arm["spec"], agg[arm["spec"]]
        diffs = ["(baseline)"] * 3 if s == base else [fmt_paired(report["paired"][s][f])
                                                      for f in ("best", "auc", "step0")]
        lines.append(f"| `{s}` | {fmt(a['step0'])} | {fmt(a['best'])} | {fmt(a['auc'])} | "
                     f"{fmt(a['steps_to_target'], 1)} | " + " | ".join(diffs) + " |")
    if report.get("macro_f1"):
        lines += ["", "Macro-F1 (beside accuracy, so that a label prior is not read as transfer):", "",
                  "| arm | step 0 | best |", "|---|---|---|"]
        for arm in report["arms"]:
            m = report["macro_f1"][arm["spec"]]
            lines.append(f"| `{arm['spec']}` | {fmt(m['step0'])} | {fmt(m['best'])} |")
    lines += ["", f"Speedup ({base} steps / arm steps to target):", ""]
    for s, v in report["speedup"].items():
        lines.append(f"- `{s}`: {fmt(v, 2)}; lower bound (arm steps counted as at least one eval interval) "
                     f"{fmt(report['speedup_at_least'][s], 2)}")
    starts = [a for a in report["arms"] if a.get("start")]
    if starts:
        lines += ["", "Starts:", ""] + [f"- `{a['spec']}`: {json.dumps(a['start'])}" for a in starts]
    return "\n".join(lines) + "\n"
