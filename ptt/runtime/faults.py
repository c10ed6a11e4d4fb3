"""Fault injection for reliability tests: `PTT_FAULT_INJECT=<point>:<step>[:<rank>]`.

Points: `step` (SIGKILL right after optimizer step N), `checkpoint` (SIGKILL after the DeepSpeed resume
state of step N is written but before ptt marks it complete), `prompt` (SIGKILL between the tensor and the
json of an artifact written at step N), `raise` (a RuntimeError at step N), `nan` (the loss of step N becomes
NaN). With a rank, only that rank fails. Unset in normal use: then every call is a dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import time

from ptt.runtime import dist

ENV = "PTT_FAULT_INJECT"
STAMP_ENV = "PTT_FAULT_STAMP"  # optional file that receives the time of the injected fault


def _matches(point: str, step: int) -> bool:
    spec = os.environ.get(ENV)
    if not spec:
        return False
    parts = spec.split(":")
    if parts[0] != point or int(parts[1]) != step:
        return False
    if len(parts) > 2:
        return int(parts[2]) == dist.rank()
    return True


def maybe_fail(point: str, step: int) -> None:
    """SIGKILL (or raise, for point `raise`) when PTT_FAULT_INJECT names this point and step."""
    if _matches(point, step):
        stamp = os.environ.get(STAMP_ENV)
        if stamp:
            with open(stamp, "w") as f:
                f.write(str(time.time()))
        if point == "raise":
            raise RuntimeError(f"injected failure at step {step} ({ENV})")
        os.kill(os.getpid(), signal.SIGKILL)


def poison_loss(step: int) -> bool:
    """True when the loss of `step` should be replaced by NaN (point `nan`)."""
    return _matches("nan", step)
