"""The tables of examples/two_models_study.sh: every number is read from the files its commands wrote.

- zero-shot transfer matrices (accuracy and macro-F1 per cell; each target's majority-class accuracy), per model;
- transferred vs random initialization (per arm: step 0, best, AUC, paired difference with a 95% interval, wins);
- cross-model transfer in both directions (distance and task projectors, recycling, random) on the target model;
- generation with SmolLM2 (no prompt, the untrained start, the trained prompt);
- the indicators' correlation with the transfer matrix (Spearman and Kendall, pooled over all pairs).

Usage: python examples/two_models_table.py OUT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MODELS = ("smollm2", "minilm")
NAMES = {"smollm2": "SmolLM2-135M (decoder-only, GGUF)", "minilm": "MiniLM-L6 (encoder, cosine verbalizer)"}


def load(path: Path):
    return json.loads(path.read_text())


def f3(v) -> str:
    return "—" if v is None else f"{v:.3f}"


def matrix_table(out: Path, model: str) -> list[str]:
    m = load(out / model / "matrix" / "matrix.json")
    tasks, majority = m["tasks"], m.get("majority_class", {})
    lines = [f"### {NAMES[model]}: zero-shot transfer (accuracy / macro-F1; rows: source prompt, columns: target)",
             "", "| source | " + " | ".join(tasks) + " |", "|---|" + "---|" * len(tasks)]
    for row, values, macro in zip(m["rows"], m["values"], m["macro_f1"]):
        cells = []
        for t, v, mf in zip(tasks, values, macro):
            own = m["own_prompt"].get(t) == row
            cell = f"{f3(v)} / {f3(mf)}"
            cells.append(f"**{cell}**" if own else cell)
        name = "random (vocab-sampled, untrained)" if row == "random" else row
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("| majority class | " + " | ".join(f3(majority.get(t, {}).get("accuracy")) for t in tasks) + " |")
    return lines


def paired(p) -> str:
    ci = "" if p["ci95"] is None else f" [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}]"
    return f"{p['mean']:+.3f}{ci}, {p['wins']}/{p['n']}"


def ms(stat) -> str:
    return "—" if stat["mean"] is None else f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def arm_name(arm: dict) -> str:
    if arm["kind"] == "from":
        parts = Path(arm["spec"][5:]).parts
        return f"from {parts[-2] if parts[-1] == 'last' else parts[-1]}"
    if arm["kind"] == "recycle":
        return "recycle (v2v-lin)"
    return arm["spec"]


def compare_rows(report: dict, label: str) -> list[str]:
    lines = []
    majority = report.get("majority_class") or {}
    for arm in report["arms"]:
        s, agg = arm["spec"], report["aggregate"][arm["spec"]]
        diff = ["(baseline)"] * 3 if s == report["baseline"] else \
            [paired(report["paired"][s][k]) for k in ("step0", "best", "auc")]
        macro = report.get("macro_f1", {}).get(s, {})
        lines.append(f"| {label} | {arm_name(arm)} | {ms(agg['step0'])} | {ms(agg['best'])} | {ms(agg['auc'])} | "
                     f"{diff[0]} | {diff[1]} | {diff[2]} | {ms(macro.get('best', {'mean': None}))} | "
                     f"{f3(majority.get('accuracy'))} |")
    return lines


COMPARE_HEADER = ["| target | arm | step 0 | best | AUC | step 0 − random [95% CI], wins | best − random | "
                  "AUC − random | best macro-F1 | majority |", "|---|---|---|---|---|---|---|---|---|---|"]


def init_table(out: Path, model: str) -> list[str]:
    lines = [f"### {NAMES[model]}: transferred vs random initialization (3 seeds, 30 steps)", "", *COMPARE_HEADER]
    for target in ("mr", "snli"):
        lines += compare_rows(load(out / model / f"compare-{target}" / "report.json"), target)
    return lines


def cross_table(out: Path) -> list[str]:
    lines = ["### Cross-model transfer onto mr (3 seeds, 30 steps; the projectors never saw an mr prompt)", "",
             *COMPARE_HEADER]
    notes = []
    for a, b in (("minilm", "smollm2"), ("smollm2", "minilm")):
        x = out / "cross" / f"{a}-to-{b}"
        report = load(x / "compare-mr" / "report.json")
        lines += compare_rows(report, f"{a} → {b}")
        init = next(arm["start"] for arm in report["arms"] if arm["kind"] == "recycle")
        fits = {obj: load(x / obj / "projector.json").get("metrics", {}) for obj in ("distance", "task")}
        task_fit = {t: m for t, m in fits["task"].items() if isinstance(m, dict)}
        notes.append(f"- {a} → {b}: recycling shares {init.get('shared_tokens', '?')} tokens (matched by string), "
                     f"fit relative residual {f3(init.get('fit_relative_residual'))}; distance projector: final loss "
                     f"{fits['distance'].get('final_distance_loss', float('nan')):.1e} on "
                     f"{fits['distance'].get('pairs', '?')} prompt pairs; task projector after "
                     f"{fits['task'].get('step', '?')} steps: " + ", ".join(
                         f"{t} accuracy {f3(m.get('accuracy'))}, macro-F1 {f3(m.get('macro_f1'))}"
                         for t, m in task_fit.items()))
    return lines + [""] + notes


def generation_table(out: Path) -> list[str]:
    lines = ["### SmolLM2 on generation (packaged dev slices)", "",
             "| task | metric | no prompt | step 0 (vocab start) | trained (best) | at step |", "|---|---|---|---|---|---|"]
    for task in ("squad", "samsum"):
        run = out / "smollm2" / "gen" / task
        base = load(run / "baseline.json")["no_prompt"]
        rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x.strip()]
        primary = "f1" if task == "squad" else "rougeL"
        best = max(rows, key=lambda r: r[primary])
        for metric in sorted(k for k in base if k != "step"):
            lines.append(f"| {task} | {metric} | {f3(base[metric])} | {f3(rows[0][metric])} | {f3(best[metric])} | "
                         f"{best['step']} |")
    return lines


def indicators_table(out: Path) -> list[str]:
    lines = ["### Indicators vs zero-shot transfer (pooled over every source-target pair; Spearman / Kendall)", "",
             "| indicator | " + " | ".join(NAMES[m] for m in MODELS) + " |", "|---|" + "---|" * len(MODELS)]
    corr = {m: load(out / m / "indicators" / "correlation.json") for m in MODELS}
    for name in corr[MODELS[0]]:
        cells = []
        for m in MODELS:
            pooled = corr[m].get(name, {}).get("pooled", {})
            cells.append(f"{f3(pooled.get('spearman'))} / {f3(pooled.get('kendall'))} (n={pooled.get('n')})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def section(build, *args) -> list[str]:
    """A table, or one line naming the output a step of the study has not written yet."""
    try:
        return build(*args)
    except FileNotFoundError as e:
        return [f"({build.__name__}{tuple(a for a in args if isinstance(a, str))}: not run yet, {e.filename} is missing)"]


def main(argv: list[str]) -> None:
    out = Path(argv[0])
    sections = [section(matrix_table, out, m) for m in MODELS] + [section(init_table, out, m) for m in MODELS]
    sections += [section(cross_table, out), section(generation_table, out), section(indicators_table, out)]
    print("\n\n".join("\n".join(s) for s in sections))


if __name__ == "__main__":
    main(sys.argv[1:])
