"""The tables of examples/many_sources_study.sh: per target, every arm's step-0 metric, best, AUC and paired
difference against random (95% interval, wins out of the seeds); and how well each ranking criterion (zero-shot
accuracy, balanced accuracy, macro-F1, gold log-probability, and the indicators against the target's own prompt)
predicts the single-source arms' AUC (rank correlation over the library's prompts).

Usage: python examples/many_sources_table.py OUT TARGET...
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ptt.transfer.comparison.curves import area_under_curve
from ptt.transfer.indicators.correlation import kendall, spearman

CRITERIA = ("accuracy", "balanced_accuracy", "macro_f1", "gold_log_prob", "top_prediction_share")


def fmt(stat) -> str:
    return "—" if stat["mean"] is None else f"{stat['mean']:.3f} ± {stat['std']:.3f}"


def paired(p) -> str:
    ci = "" if p["ci95"] is None else f" [{p['ci95'][0]:+.3f}, {p['ci95'][1]:+.3f}]"
    return f"{p['mean']:+.3f}{ci}, {p['wins']}/{p['n']}"


def corr(v) -> str:
    return "n/a" if v is None else f"{v:+.3f}"


def arm_label(arm) -> str:
    if arm["kind"] == "from":
        return f"from {Path(arm['spec'][5:]).name}"
    return arm["spec"].split(":")[0]


def arms_table(out: Path, report) -> list[str]:
    majority = report.get("majority_class") or {}
    lines = [f"### {report['task']} ({len(report['seeds'])} seeds; {report['metric']}; majority class "
             f"{majority.get('label')} = {majority.get('accuracy', float('nan')):.3f})", "",
             "| arm | step 0 | best | AUC | best − random [95% CI], wins | AUC − random [95% CI], wins | best macro-F1 "
             "| macro-F1 AUC |", "|---|---|---|---|---|---|---|---|"]
    for arm in report["arms"]:
        s, agg = arm["spec"], report["aggregate"][arm["spec"]]
        diff = ["(baseline)", "(baseline)"] if s == report["baseline"] else \
            [paired(report["paired"][s]["best"]), paired(report["paired"][s]["auc"])]
        macro = report.get("macro_f1", {}).get(s, {}).get("best", {"mean": None})
        area = macro_auc(out, report["task"], arm, report["seeds"])
        lines.append(f"| {arm_label(arm)} | {fmt(agg['step0'])} | {fmt(agg['best'])} | {fmt(agg['auc'])} | "
                     f"{diff[0]} | {diff[1]} | {fmt(macro)} | {area:.3f} |")
    return lines


def macro_auc(out: Path, target: str, arm: dict, seeds: list[int]) -> float:
    """Mean over seeds of the area under the macro-F1 curve (a prior-free view of the same runs)."""
    values = []
    for seed in seeds:
        rows = [json.loads(x) for x in (out / f"compare-{target}" / "runs" / f"{arm['name']}-seed{seed}" /
                                        "metrics.jsonl").read_text().splitlines() if x.strip()]
        values.append(area_under_curve([(r["step"], r["macro_f1"]) for r in rows]))
    return sum(values) / len(values)


def criteria_table(out: Path, report, target: str) -> list[str]:
    """Rank correlation, over the from: arms, between each criterion and the arm's mean AUC of accuracy (the
    compared metric, which a label prior inflates) and of macro-F1 (which it does not)."""
    froms = [a for a in report["arms"] if a["kind"] == "from"]
    auc = {Path(a["spec"][5:]).name: report["aggregate"][a["spec"]]["auc"]["mean"] for a in froms}
    mauc = {Path(a["spec"][5:]).name: macro_auc(out, target, a, report["seeds"]) for a in froms}
    sel = next((out / f"compare-{target}" / "starts").glob("auto-*.selection.json"))
    ranking = {Path(r["path"]).name: r["metrics"] for r in json.loads(sel.read_text())["ranking"]}
    names = [n for n in auc if n in ranking]
    lines = [f"### {target}: criterion vs the single-source arms' AUC ({len(names)} sources; Spearman / Kendall)", "",
             "| criterion | vs accuracy AUC | vs macro-F1 AUC | top-ranked source | its rank by accuracy AUC / "
             "by macro-F1 AUC |", "|---|---|---|---|---|"]
    by_auc = sorted(names, key=lambda n: -auc[n])
    by_mauc = sorted(names, key=lambda n: -mauc[n])

    def row(name, values):
        top = max(names, key=lambda n: values[n])
        x = [values[n] for n in names]
        cells = [f"{corr(spearman(x, [a[n] for n in names]))} / {corr(kendall(x, [a[n] for n in names]))}"
                 for a in (auc, mauc)]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {top} | {by_auc.index(top) + 1} / "
                     f"{by_mauc.index(top) + 1} of {len(names)} |")

    for c in CRITERIA:
        row(f"zero-shot {c}", {n: ranking[n][c] for n in names})
    indicators = out / "indicators" / "indicators.json"
    if indicators.is_file():
        ind = json.loads(indicators.read_text())
        if target in ind["prompts"]:
            t = ind["prompts"].index(target)
            for key, matrix in ind["matrices"].items():
                row(f"indicator {key} (to {target}'s own prompt)",
                    {n: matrix[ind["prompts"].index(n)][t] for n in names if n in ind["prompts"]})
    return lines


def main(argv: list[str]) -> None:
    out, targets = Path(argv[0]), argv[1:]
    for target in targets:
        report = json.loads((out / f"compare-{target}" / "report.json").read_text())
        print("\n".join(arms_table(out, report)), end="\n\n")
        print("\n".join(criteria_table(out, report, target)), end="\n\n")


if __name__ == "__main__":
    main(sys.argv[1:])
