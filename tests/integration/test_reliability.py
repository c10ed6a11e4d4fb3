"""Kill runs at chosen points (SIGKILL, incl. mid-checkpoint and mid-artifact), resume, and get the
uninterrupted run's prompt bit for bit; a dying rank ends the whole job quickly; non-finite losses."""

from __future__ import annotations

import json
import subprocess
import time

import psutil
import pytest
import torch

from ptt.runtime.artifacts import load_prompt
from tests.helpers import REPO, clean_env, run_ptt, deepspeed_launcher, free_port

FAILURE_BOUND_S = 30  # a dead rank ends the job within this many seconds (the launcher polls every second)


def args(backbone, out, *extra):
    return ["train", "--backbone", backbone, "--task", "sst2", "--prompt-length", "4", "--max-length", "24",
            "--max-steps", "6", "--eval-every", "2", "--batch-size", "4", "--lr", "0.1", "--precision", "fp32",
            "--max-train-examples", "64", "--max-eval-examples", "8", "--output-dir", str(out), *extra]


def launched(backbone, out, *extra, env=None):
    cmd = [deepspeed_launcher(), "--num_gpus", "2", "--master_port", str(free_port()),
           str(REPO / "launch" / "ptt_main.py"), *args(backbone, out, "--ds-config", "zero3_bf16", *extra)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                          env=clean_env(PYTHONPATH=str(REPO), **(env or {})))


def leftover_processes(marker: str) -> list[str]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if marker in cmd:
            found.append(cmd)
    return found


@pytest.fixture(scope="module")
def uninterrupted(tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted") / "full"
    full = run_ptt(*args(tiny_models["bert"], out))
    assert full.returncode == 0, full.stderr[-2000:]
    return out


@pytest.mark.parametrize("point", ["step:3", "checkpoint:4", "prompt:2"])
def test_single_process_killed_then_resumed_equals_uninterrupted(tiny_models, tmp_path, point, uninterrupted):
    bert = tiny_models["bert"]
    killed = run_ptt(*args(bert, tmp_path / "run"), env={"PTT_FAULT_INJECT": point})
    assert killed.returncode == -9, killed.stderr[-2000:]
    resumed = run_ptt(*args(bert, tmp_path / "run", "--resume"))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, _ = load_prompt(uninterrupted / "last")
    b, meta = load_prompt(tmp_path / "run" / "last")
    assert meta["step"] == 6 and torch.equal(a, b)
    steps = [json.loads(x)["step"] for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 2, 4, 6]


def test_two_rank_zero3_killed_rank_ends_the_job_and_resume_is_exact(tiny_models, tmp_path):
    t5 = tiny_models["t5"]
    full = launched(t5, tmp_path / "full")
    assert full.returncode == 0, full.stderr[-2000:]
    for point in ("step:3:1", "checkpoint:4:0"):  # rank 1 dies mid-run; rank 0 dies mid-checkpoint
        stamp = tmp_path / f"stamp-{point.replace(':', '-')}"
        killed = launched(t5, tmp_path / "run", *(["--resume"] if (tmp_path / "run").exists() else []),
                          env={"PTT_FAULT_INJECT": point, "PTT_FAULT_STAMP": str(stamp)})
        ended = time.time()
        assert killed.returncode != 0
        assert ended - float(stamp.read_text()) < FAILURE_BOUND_S
        time.sleep(1)
        assert leftover_processes(str(tmp_path / "run")) == []
    resumed = launched(t5, tmp_path / "run", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, _ = load_prompt(tmp_path / "full" / "last")
    b, meta = load_prompt(tmp_path / "run" / "last")
    assert meta["step"] == 6 and torch.equal(a, b)


def test_a_rank_that_raises_ends_the_job_with_its_error_shown(tiny_models, tmp_path):
    stamp = tmp_path / "stamp"
    proc = launched(tiny_models["t5"], tmp_path / "run",
                    env={"PTT_FAULT_INJECT": "raise:2:1", "PTT_FAULT_STAMP": str(stamp)})
    ended = time.time()
    assert proc.returncode != 0
    assert "injected failure at step 2" in proc.stdout + proc.stderr
    assert ended - float(stamp.read_text()) < FAILURE_BOUND_S
    time.sleep(1)
    assert leftover_processes(str(tmp_path / "run")) == []


def test_nonfinite_loss_stops_naming_the_step_and_keeps_the_last_good_prompt(tiny_models, tmp_path):
    out = tmp_path / "run"
    proc = run_ptt(*args(tiny_models["bert"], out), env={"PTT_FAULT_INJECT": "nan:3"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "step 3: the loss is not finite" in proc.stderr
    prompt, meta = load_prompt(out / "last")
    assert meta["step"] == 2 and torch.isfinite(prompt).all()


def test_nonfinite_loss_skipped_by_flag_and_counted(tiny_models, tmp_path):
    out = tmp_path / "run"
    proc = run_ptt(*args(tiny_models["bert"], out, "--on-nonfinite", "skip"), env={"PTT_FAULT_INJECT": "nan:3"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_steps"] == 1 and summary["steps"] == 6
    prompt, _ = load_prompt(out / "last")
    assert torch.isfinite(prompt).all()
