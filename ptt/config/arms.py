"""The arms of `ptt transfer compare`: parsing `--arms` specs and naming their runs (pure, no I/O, no torch).

An arm is one way to start the target prompt; every arm of a comparison trains on the same seeds, data order,
hyperparameters and evaluation points. Specs:

    random | uniform    U(-0.5, 0.5) vectors (`--init uniform`)
    vocab               embeddings of frequent tokens (`--init vocab`)
    labels              the label words first (`--init labels`)
    from:PATH           one source prompt artifact
    auto:LIB            the library's top-ranked prompt for the target
    avg:LIB[:K]         the mean of the library's top K (default 3)
    mix:LIB             an attention mixture (ATTEMPT) of the library's prompts and a new one (`--mixture LIB`)
    recycle:PATH        a prompt of another backbone, recycled to the target backbone (v2v-lin, no task data)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ptt.errors import PttError

INIT_ARMS = {"random": "uniform", "uniform": "uniform", "vocab": "vocab", "labels": "labels"}
PATH_ARMS = ("from", "auto", "avg", "mix", "recycle")
DEFAULT_K = 3
HELP = "random, vocab, labels, from:PATH, auto:LIB, avg:LIB[:K], mix:LIB, recycle:PATH"


@dataclass(frozen=True)
class Arm:
    """One parsed arm. spec: as given (the report's key); kind: random | vocab | labels | from | auto | avg | mix |
    recycle; init: the --init of the init arms; path: the prompt or library; k: avg's top K."""

    spec: str
    kind: str
    init: str | None = None
    path: str | None = None
    k: int | None = None


def parse_arm(spec: str) -> Arm:
    spec = spec.strip()
    if spec in INIT_ARMS:
        return Arm(spec, "random" if spec == "uniform" else spec, init=INIT_ARMS[spec])
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in PATH_ARMS or not rest:
        raise PttError(f"--arms: {spec!r} is not an arm; use {HELP}")
    if kind == "avg":
        head, colon, tail = rest.rpartition(":")
        if colon and tail.isdigit():
            if int(tail) < 1:
                raise PttError(f"--arms {spec}: K must be at least 1 (avg:LIB:K)")
            return Arm(spec, kind, path=head, k=int(tail))
        return Arm(spec, kind, path=rest, k=DEFAULT_K)
    return Arm(spec, kind, path=rest)


def parse_arms(text: str) -> list[Arm]:
    """Comma-separated arm specs -> arms, in order; at least two, none twice."""
    arms = [parse_arm(s) for s in text.split(",") if s.strip()]
    if len(arms) < 2:
        raise PttError(f"--arms {text!r}: give at least two arms to compare (e.g. random,from:runs/sst2/best)")
    seen: dict[tuple, str] = {}
    for a in arms:
        key = (a.kind, a.init, a.path, a.k)
        if key in seen:
            raise PttError(f"--arms: {a.spec!r} repeats {seen[key]!r}; list each arm once")
        seen[key] = a.spec
    return arms


def baseline_arm(arms: list[Arm], name: str | None) -> Arm:
    """The arm the others are paired against: `name` (a spec of `arms`), else `random`, else the first arm."""
    if name is not None:
        for a in arms:
            if a.spec == name:
                return a
        raise PttError(f"--baseline-arm {name!r}: not one of --arms ({', '.join(a.spec for a in arms)})")
    return next((a for a in arms if a.kind == "random"), arms[0])


def run_names(arms: list[Arm]) -> dict[str, str]:
    """A file-name-safe, unique name per arm spec (`from:runs/sst2/best` -> `from-sst2-best`)."""
    names: dict[str, str] = {}
    for a in arms:
        if a.path is None:
            base = a.kind
        else:
            tail = "-".join([p for p in re.split(r"[\\/]+", a.path.rstrip("/\\")) if p][-2:])
            base = f"{a.kind}-{tail}" + (f"-top{a.k}" if a.kind == "avg" else "")
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-")[:60] or a.kind
        name, i = base, 2
        while name in names.values():
            name, i = f"{base}-{i}", i + 1
        names[a.spec] = name
    return names
