#!/usr/bin/env python
"""Same numbers before and after a change: train and score the same small jobs with two checkouts, compare.

`run` trains a soft prompt with the real `ptt` CLI of the checkout DIR (a subprocess with PYTHONPATH=DIR)
on every family: a tiny random T5, RoBERTa and Llama (`ptt.tiny`, the test suite's shapes, built by the ptt this
script runs from; saved once to OUT/models and reused) and the bundled MiniLM, SST-2, plus SQuAD on T5 and Llama,
an attention mixture over the T5 run's prompts (on MR), a 2-seed random-vs-transferred compare on T5 (`JOBS`) and
a task-objective projector from the T5 run's prompt into RoBERTa (`PROJECT`).
Each run goes to OUT/runs/NAME (replaced if present), then `ptt eval` scores its last/ prompt (the compare: its
report); wall times and the eval JSON lines go to OUT/runs.json. `compare` checks two such folders for exactly equal
numbers: the last/ prompt (or mixture) tensors, every metrics.jsonl row, baseline.json, the train summary and the
eval lines (less their path fields); for the compare, its report and every arm's tensors and rows; for the
projector, its weights, evaluation history and projector.json. Paths under OUT
are compared as paths relative to OUT. It exits 1 if anything differs. `--tolerance T` accepts numbers (tensor
elements, floats) within T of each other, relative to the larger magnitude or absolute below 1 (a change that
reorders floating-point sums); strings, integers and structure must still be equal, and the table says which runs
are exactly equal and which only within T.

    git worktree add /tmp/base <commit>
    python benchmarks/same_numbers.py run --checkout /tmp/base --out /tmp/numbers/before
    python benchmarks/same_numbers.py run --checkout . --out /tmp/numbers/after
    python benchmarks/same_numbers.py compare /tmp/numbers/before /tmp/numbers/after [--new-fields]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

TRAIN_FLAGS = ["--prompt-length", "4", "--max-steps", "6", "--eval-every", "3", "--batch-size", "4",
               "--max-train-examples", "64", "--max-eval-examples", "32", "--max-length", "32", "--seed", "0",
               "--lr", "0.1", "--warmup-steps", "2", "--precision", "fp32"]
GENERATION = ["--task", "squad", "--max-length", "64", "--max-new-tokens", "6"]  # after TRAIN_FLAGS: these win
JOBS = {"t5": ("t5", ["--task", "sst2"]), "roberta": ("roberta", ["--task", "sst2"]),
        "minilm": ("minilm", ["--task", "sst2"]), "llama": ("llama", ["--task", "sst2"]),
        "llama-squad": ("llama", GENERATION), "t5-squad": ("t5", GENERATION),
        "mixture": ("t5", ["--task", "mr", "--mixture", "{runs}/t5"])}
"""run name -> (backbone, task flags): every family, generation for both families that decode, and a mixture over
the t5 run's prompts ({runs}: OUT/runs; it runs after t5)."""
COMPARE = ("t5", ["--task", "mr", "--arms", "random,from:{runs}/t5/last", "--seeds", "2", "--max-steps", "4",
                  "--eval-every", "2"])
"""The compare job (`ptt transfer compare`, run name "compare"): backbone, flags after TRAIN_FLAGS less theirs."""
COMPARE_DROP = ("--max-steps", "--eval-every")
PROJECT = ("t5", "roberta", ["--objective", "task", "--source-prompts", "{runs}/t5/last", "--tasks", "sst2",
                             "--projector-hidden", "16", "--max-steps", "4", "--eval-every", "2"])
"""The projector job (`ptt transfer project fit`, task objective, run name "project"): source and target backbone,
flags after TRAIN_FLAGS less PROJECT_DROP."""
PROJECT_DROP = ("--max-steps", "--eval-every", "--prompt-length", "--warmup-steps")
NAMES = (*JOBS, "compare", "project")
PTT = 'import sys; from ptt.cli import main; sys.argv[0] = "ptt"; main()'
CHECKS = ("metrics", "baseline", "summary", "eval", "report")  # compared for exact equality, besides the prompt tensors
PATH_FIELDS = ("run_dir", "prompt")  # left out of the summary and eval lines: they name the results folder
DIST_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def env_for(checkout: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARS}
    return {**env, "PYTHONPATH": str(checkout), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def ptt(checkout: Path, cwd: Path, *args: str) -> tuple[str, float]:
    """Run the checkout's `ptt` CLI; returns (stdout, wall seconds). Fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", PTT, *args], cwd=cwd, env=env_for(checkout), capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        sys.exit(f"ptt {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc.stdout, wall


def last_json(stdout: str) -> dict:
    return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def build_tiny(kind: str, out: Path) -> str:
    """The test suite's tiny random backbones (`ptt.tiny`, shape "tiny"), built by the ptt this script runs
    from, so that both checkouts train on the same model folders; built once and reused."""
    if not (out / "config.json").exists():
        from ptt.tiny import build

        build(kind, out)
    return str(out)


def without(flags: list[str], drop: tuple[str, ...]) -> list[str]:
    """flags less the `--flag value` pairs named in drop."""
    return [f for i, f in enumerate(flags) if f not in drop and (i == 0 or flags[i - 1] not in drop)]


def run(checkout: Path, out: Path) -> None:
    checkout, out = checkout.resolve(), out.resolve()
    os.environ.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    imported = subprocess.run([sys.executable, "-c", "import ptt; print(ptt.__file__)"], cwd=out, env=env_for(checkout),
                              capture_output=True, text=True).stdout.strip()
    if not imported.startswith(str(checkout / "ptt")):
        sys.exit(f"PYTHONPATH={checkout} imports ptt from {imported!r}, not from the checkout")
    backbones = {k: build_tiny(k, out / "models" / k) for k in ("t5", "roberta", "llama")} | {"minilm": "minilm"}
    record = {"checkout": str(checkout), "commit": subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(), "runs": {}}
    for name in JOBS:
        run_dir = out / "runs" / name
        shutil.rmtree(run_dir, ignore_errors=True)
        backbone, flags = JOBS[name]
        flags = [f.format(runs=out / "runs") for f in flags]
        stdout, train_wall = ptt(checkout, out, "train", "--backbone", backbones[backbone], *TRAIN_FLAGS, *flags,
                                 "--output-dir", str(run_dir))
        eval_out, eval_wall = ptt(checkout, out, "eval", "--prompt", str(run_dir / "last"), "--max-eval-examples", "32",
                                  *(["--max-new-tokens", "6"] if flags is GENERATION else []))
        record["runs"][name] = {"train_wall_s": round(train_wall, 2), "eval_wall_s": round(eval_wall, 2),
                                "summary": last_json(stdout), "eval": last_json(eval_out)}
        print(f"{name:8s} train {train_wall:6.1f} s  eval {eval_wall:6.1f} s  eval: {json.dumps(last_json(eval_out))}",
              flush=True)
    run_dir = out / "runs" / "compare"
    shutil.rmtree(run_dir, ignore_errors=True)
    backbone, flags = COMPARE
    stdout, wall = ptt(checkout, out, "transfer", "compare", "--backbone", backbones[backbone],
                       *without(TRAIN_FLAGS, COMPARE_DROP), *[f.format(runs=out / "runs") for f in flags],
                       "--output-dir", str(run_dir))
    record["runs"]["compare"] = {"train_wall_s": round(wall, 2)}
    print(f"compare  {wall:6.1f} s", flush=True)
    run_dir = out / "runs" / "project"
    shutil.rmtree(run_dir, ignore_errors=True)
    source, target, flags = PROJECT
    stdout, wall = ptt(checkout, out, "transfer", "project", "fit", "--source-backbone", backbones[source],
                       "--target-backbone", backbones[target], *without(TRAIN_FLAGS, PROJECT_DROP),
                       *[f.format(runs=out / "runs") for f in flags], "--output-dir", str(run_dir))
    record["runs"]["project"] = {"train_wall_s": round(wall, 2)}
    print(f"project  {wall:6.1f} s", flush=True)
    (out / "runs.json").write_text(json.dumps(record, indent=2) + "\n")


def relative(value, root: Path):
    """value with every path under root written relative to it (the two folders compared sit at other places)."""
    if isinstance(value, dict):  # keys too: a compare report is keyed by its arms' specs, which hold paths
        return {relative(k, root): relative(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [relative(v, root) for v in value]
    return value.replace(str(root), "OUT") if isinstance(value, str) else value


def tensors(folder: Path) -> dict:
    """The trained tensors of a prompt or mixture artifact folder."""
    from safetensors.torch import load_file

    file = next(f for f in ("prompt.safetensors", "mixture.safetensors") if (folder / f).is_file())
    return load_file(str(folder / file))


def numbers(root: Path, name: str) -> dict:
    """Everything that must not change, for one run (the compare: its report, and every arm run's tensors)."""
    run_dir = root / "runs" / name
    if name == "compare":
        report = json.loads((run_dir / "report.json").read_text())
        arms = sorted(p.name for p in (run_dir / "runs").iterdir())
        return {"prompt": {f"{a}/{k}": v for a in arms for k, v in tensors(run_dir / "runs" / a / "last").items()},
                "metrics": {a: read_jsonl(run_dir / "runs" / a / "metrics.jsonl") for a in arms},
                "report": relative(report, root.resolve()), "baseline": None, "summary": None, "eval": None}
    if name == "project":  # the projector's weights, its evaluation history and the rest of projector.json
        from safetensors.torch import load_file

        meta = json.loads((run_dir / "projector.json").read_text())
        return {"prompt": load_file(str(run_dir / "projector.safetensors")), "metrics": meta.pop("history"),
                "report": relative(meta, root.resolve()), "baseline": None, "summary": None, "eval": None}
    recorded = json.loads((root / "runs.json").read_text())["runs"][name]
    return {"prompt": tensors(run_dir / "last"), "metrics": read_jsonl(run_dir / "metrics.jsonl"),
            "baseline": json.loads((run_dir / "baseline.json").read_text()), "report": None,
            **{k: relative({f: v for f, v in recorded[k].items() if f not in PATH_FIELDS}, root.resolve())
               for k in ("summary", "eval")}}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def restrict(b, a):
    """b cut down to a's fields (dicts: a's keys; lists of one length: item by item): what a already recorded."""
    if isinstance(a, dict) and isinstance(b, dict):
        return {k: restrict(b.get(k), v) for k, v in a.items()}
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [restrict(y, x) for x, y in zip(a, b)]
    return b


def close(a, b, tolerance: float) -> bool:
    """a == b, except that floats may differ by tolerance * max(1, |a|, |b|)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k], tolerance) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y, tolerance) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b)) or a == b
    return a == b


def compare(a: Path, b: Path, new_fields: bool = False, tolerance: float = 0.0) -> int:
    """new_fields: B may record fields A did not (a change that adds metrics); every field A has must be equal.
    tolerance: see `close` (0: exact)."""
    import torch

    differs, approximate = False, False
    print(f"{'run':8s} {'prompt equal':>12s} {'max |diff|':>11s} " + " ".join(f"{k:>8s}" for k in CHECKS))
    for name in NAMES:
        if not ((a / "runs" / name).is_dir() and (b / "runs" / name).is_dir()):
            print(f"{name:8s} (not run by both)")  # a job one side lacks is a difference, not a pass
            differs = True
            continue
        x, y = numbers(a, name), numbers(b, name)
        pairs = [(x["prompt"][k], y["prompt"].get(k)) for k in x["prompt"]]
        same_keys = x["prompt"].keys() == y["prompt"].keys()
        equal = same_keys and all(torch.equal(p, q) for p, q in pairs)
        near = same_keys and all(p.shape == q.shape and torch.allclose(p, q, rtol=tolerance, atol=tolerance)
                                 for p, q in pairs)
        diff = max(((p - q).abs().max().item() for p, q in pairs if q is not None and p.shape == q.shape),
                   default=float("nan"))
        ys = [restrict(y[k], x[k]) if new_fields else y[k] for k in CHECKS]
        exact = [x[k] == v for k, v in zip(CHECKS, ys)]
        checks = [e or close(x[k], v, tolerance) for k, v, e in zip(CHECKS, ys, exact)]
        differs |= not (near and all(checks))
        approximate |= not (equal and all(exact))
        word = str(equal) if equal or not near else f"~{tolerance:g}"
        print(f"{name:8s} {word:>12s} {diff:11.3g} "
              + " ".join(f"{'same' if e else f'~{tolerance:g}' if c else 'DIFF':>8s}" for e, c in zip(exact, checks)))
        for k, c in zip(CHECKS, checks):
            if not c:
                print(f"  {k}:\n    A {x[k]}\n    B {y[k]}")
    print("DIFFERENT" if differs else f"all numbers equal within {tolerance:g}" if approximate else "all numbers equal")
    return int(differs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="train + eval every job (JOBS) with one checkout")
    p.add_argument("--checkout", type=Path, required=True, help="repository root whose ptt/ is run")
    p.add_argument("--out", type=Path, required=True, help="results folder (models/, runs/, runs.json)")
    p = sub.add_parser("compare", help="exit 1 unless two results folders hold the same numbers")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--new-fields", action="store_true", help="B may add fields; every field of A must be equal")
    p.add_argument("--tolerance", type=float, default=0.0, help="accept numbers within this relative tolerance")
    args = parser.parse_args()
    if args.command == "run":
        run(args.checkout, args.out)
    else:
        sys.exit(compare(args.a, args.b, args.new_fields, args.tolerance))


if __name__ == "__main__":
    main()
