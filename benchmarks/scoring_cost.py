#!/usr/bin/env python
"""Wall time and peak memory of scoring a saved prompt with one checkout's `ptt` CLI.

Runs, each in its own process under `/usr/bin/time -v` (apt-get install -y time), `ptt eval --prompt P
--task sst2` and `ptt transfer eval --prompts P --tasks sst2,mr --output-dir OUT/matrix` of the checkout DIR
(PYTHONPATH=DIR), REPS times each, prints wall seconds and peak RSS per repetition plus the medians, and
writes them to OUT/scoring_cost.json. With --baseline, a second checkout is measured in the same run
(repetitions interleaved) and the ratios are printed. Timings on a shared machine are noisy; compare medians.

    git worktree add /tmp/base <older commit>
    python benchmarks/scoring_cost.py --checkout . --baseline /tmp/base \\
        --prompt /tmp/numbers/before/runs/minilm/last --out /tmp/numbers/cost [--ds-config zero3_bf16]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PTT = 'import sys; from ptt.cli import main; sys.argv[0] = "ptt"; main()'
DIST_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def measure(checkout: Path, cwd: Path, args: list[str]) -> dict[str, float]:
    """One `ptt ARGS` process under /usr/bin/time -v: wall seconds and peak RSS in MiB."""
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARS}
    env.update(PYTHONPATH=str(checkout), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        proc = subprocess.run(["/usr/bin/time", "-v", "-o", report.name, sys.executable, "-c", PTT, *args], cwd=cwd,
                              env=env, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"ptt {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
        text = report.read()
    clock = re.search(r"Elapsed \(wall clock\) time.*: (.+)", text).group(1).strip()
    wall = sum(float(part) * 60 ** i for i, part in enumerate(reversed(clock.split(":"))))
    rss_kib = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(rss_kib / 1024, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkout", type=Path, required=True, help="repository root whose ptt/ is run")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="a second checkout (e.g. a worktree of an older commit), measured in the same run with "
                             "repetitions interleaved; ratios checkout/baseline are printed")
    parser.add_argument("--prompt", type=Path, required=True, help="prompt artifact folder (a run's last/ or best/)")
    parser.add_argument("--out", type=Path, required=True, help="results folder (matrix/, scoring_cost.json)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions per command")
    parser.add_argument("--ds-config", default=None, help="passed to both commands (e.g. zero3_bf16)")
    args = parser.parse_args()
    prompt, out = str(args.prompt.resolve()), args.out.resolve()
    checkouts = {"checkout": args.checkout.resolve()}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()
    out.mkdir(parents=True, exist_ok=True)
    extra = ["--ds-config", args.ds_config, "--precision", "fp32"] if args.ds_config else []
    commands = {"eval": ["eval", "--prompt", prompt, "--task", "sst2", *extra],
                "transfer eval": ["transfer", "eval", "--prompts", prompt, "--tasks", "sst2,mr",
                                  "--output-dir", str(out / "matrix"), *extra]}
    results: dict = {}
    print(f"{'command':14s} {'code':9s} {'rep':>6s} {'wall s':>8s} {'peak RSS MiB':>13s}")
    for name, cmd in commands.items():
        reps: dict[str, list] = {c: [] for c in checkouts}
        for i in range(args.reps):
            for code, path in checkouts.items():  # interleaved, so drift in machine load hits both alike
                reps[code].append(measure(path, out, cmd))
                r = reps[code][-1]
                print(f"{name:14s} {code:9s} {i + 1:>6d} {r['wall_s']:8.2f} {r['peak_rss_mib']:13.1f}", flush=True)
        results[name] = {}
        for code in checkouts:
            median = {k: statistics.median(r[k] for r in reps[code]) for k in ("wall_s", "peak_rss_mib")}
            print(f"{name:14s} {code:9s} {'median':>6s} {median['wall_s']:8.2f} {median['peak_rss_mib']:13.1f}")
            results[name][code] = {"argv": ["ptt", *cmd], "reps": reps[code], "median": median}
        if "baseline" in checkouts:
            a, b = results[name]["checkout"]["median"], results[name]["baseline"]["median"]
            ratio = {k: round(a[k] / b[k], 3) for k in a}
            results[name]["ratio_checkout_over_baseline"] = ratio
            print(f"{name:14s} checkout/baseline: wall {ratio['wall_s']:.3f}x, peak RSS {ratio['peak_rss_mib']:.3f}x")
    commits = {code: subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                                    text=True).stdout.strip() for code, path in checkouts.items()}
    (out / "scoring_cost.json").write_text(json.dumps(
        {"checkouts": {c: str(p) for c, p in checkouts.items()}, "commits": commits, "prompt": prompt,
         "ds_config": args.ds_config, "cpus": os.cpu_count(), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
