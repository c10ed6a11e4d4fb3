"""Resume state (DeepSpeed checkpoints without the frozen weights) and the check that a resumed run is the
same run: a flag that would change the trajectory is refused; extending it and changing cadence are allowed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ptt.config.fields import flag
from ptt.errors import PttError
from ptt.runtime import dist
from ptt.runtime.artifacts import atomic_write_json
from ptt.runtime.faults import maybe_fail

CHECKPOINTS = "checkpoints"
COMPLETE = "ptt_complete.json"
KEEP_CHECKPOINTS = 2

ALLOWED_ON_RESUME = frozenset({"max_steps", "eval_every", "save_every", "log_every", "tb_dir", "eval_batch_size",
                               "gradient_checkpointing"})
"""Fields a resumed run may change: its length, the cadence of logging, evaluation and resume state, and whether
activations are recomputed (the same numbers, less memory)."""
NOT_COMPARED = frozenset({"resume", "overwrite", "output_dir"})


def resume_changes(saved: dict[str, Any], new: dict[str, Any], step: int) -> dict[str, list]:
    """{field: [saved value, new value]} of the allowed changes; any other change is refused in one line that
    names each field with both values."""
    changed = {k: [saved.get(k), new.get(k)] for k in sorted(set(saved) | set(new))
               if k not in NOT_COMPARED and saved.get(k) != new.get(k)}
    refused = {k: v for k, v in changed.items() if k not in ALLOWED_ON_RESUME}
    if refused:
        listed = ", ".join(f"{flag(k)} {a!r} -> {b!r}" for k, (a, b) in refused.items())
        raise PttError(f"--resume: would change the run's trajectory ({listed}); drop those flags to continue the run "
                       "as it was, or start a new run in another --output-dir")
    if new.get("max_steps", step) < step:
        raise PttError(f"--max-steps {new['max_steps']}: the run is already at step {step}; give at least {step}")
    return changed


def save_state(engine, run_dir: Path, state: dict[str, Any]) -> None:
    """DeepSpeed checkpoint without the frozen weights, then a completion marker (rank 0, after every rank
    wrote its shard); only marked states are ever loaded, and only the newest KEEP_CHECKPOINTS stay."""
    ckpt, tag = run_dir / CHECKPOINTS, f"step{state['step']}"
    client = {"ptt_state": dict(state), "torch_rng": torch.get_rng_state()}
    engine.save_checkpoint(str(ckpt), tag=tag, client_state=client, save_latest=False, exclude_frozen_parameters=True)
    dist.barrier()
    maybe_fail("checkpoint", state["step"])
    if dist.is_main():
        atomic_write_json(ckpt / tag / COMPLETE, {"step": state["step"], "world_size": dist.world_size()})
        for old in complete_tags(ckpt)[:-KEEP_CHECKPOINTS]:
            shutil.rmtree(ckpt / old, ignore_errors=True)
    dist.barrier()


def complete_tags(ckpt: Path) -> list[str]:
    """Resume states that were fully written, oldest first."""
    tags = [p.name for p in ckpt.glob("step*") if (p / COMPLETE).is_file()] if ckpt.is_dir() else []
    return sorted(tags, key=lambda t: int(t[4:]))


def newest_step(run_dir: Path) -> int:
    """Step of the newest complete resume state (0 if none)."""
    tags = complete_tags(run_dir / CHECKPOINTS)
    return int(tags[-1][4:]) if tags else 0


def load_state(engine, run_dir: Path) -> dict[str, Any] | None:
    """Load the newest complete resume state into `engine` (optimizer, scheduler, RNG); None if there is none."""
    ckpt = run_dir / CHECKPOINTS
    tags = complete_tags(ckpt)
    if not tags:
        if dist.is_main():
            tqdm.write(f"--resume: no complete resume state under {ckpt}; starting from step 0")
        return None
    path, client = engine.load_checkpoint(str(ckpt), tag=tags[-1], load_module_strict=False,
                                          load_optimizer_states=True, load_lr_scheduler_states=True)
    if path is None:
        raise PttError(f"--resume: the resume state {ckpt / tags[-1]} could not be loaded; remove it and resume again")
    torch.set_rng_state(client["torch_rng"])
    return dict(client["ptt_state"])
