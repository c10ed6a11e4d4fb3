"""Resume that checks: exact with a warmup schedule, refusing trajectory changes, allowing a longer run; and one
live run per folder (a live holder refuses a second process, a SIGKILLed one does not block the resume)."""

from __future__ import annotations

import hashlib
import shutil
import json
import subprocess
import sys

import pytest
import torch

from ptt.commands.train import config as resume_config
from ptt.recipe.train import run as train
from ptt.errors import PttError
from ptt.runtime.artifacts import load_prompt
from ptt.runtime.lock import LOCK_FILE
from tests.helpers import clean_env, run_ptt, tiny_cfg


def snapshot(folder) -> dict[str, str]:
    """Every file under `folder` with the hash of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_with_warmup_equals_the_uninterrupted_run(tiny_models, tmp_path):
    """The learning-rate schedule's position is part of the resume state: a resume that restarted the warmup would
    train the last steps at a lower rate and end elsewhere."""
    t5, kw = tiny_models["t5"], dict(warmup_steps=5, lr=0.3, ds_config="zero2_bf16")
    train(tiny_cfg(t5, tmp_path / "full", max_steps=6, **kw))
    train(tiny_cfg(t5, tmp_path / "part", max_steps=2, **kw))
    train(tiny_cfg(t5, tmp_path / "part", max_steps=6, resume=True, **kw))
    full, _ = load_prompt(tmp_path / "full" / "last")
    part, meta = load_prompt(tmp_path / "part" / "last")
    assert meta["step"] == 6
    assert torch.equal(full, part)
    lines = [json.loads(x) for x in (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()]
    assert lines == [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture()
def short_run(tiny_models, tmp_path):
    cfg = tiny_cfg(tiny_models["t5"], tmp_path / "run", max_steps=2, ds_config="zero2_bf16")
    train(cfg)
    return cfg


@pytest.mark.parametrize("flags,named", [(["--seed", "7"], "--seed 42 -> 7"), (["--task", "mr"], "--task 'sst2' -> 'mr'"),
                                         (["--lr", "0.5", "--prompt-length", "8"], "--prompt-length 4 -> 8")])
def test_resume_refuses_a_trajectory_change_and_leaves_the_folder_untouched(short_run, flags, named):
    run_dir = short_run.run_dir()
    before = snapshot(run_dir)
    r = run_ptt("train", "--output-dir", str(run_dir), "--resume", "--max-steps", "4", *flags)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and named in r.stderr.replace('"', "'"), r.stderr
    assert "--max-steps" not in r.stderr  # extending the run is not what is refused
    assert snapshot(run_dir) == before


def test_resume_in_process_refuses_a_changed_seed(short_run):
    from dataclasses import replace

    with pytest.raises(PttError, match="--seed 42 -> 7"):
        train(replace(short_run, seed=7, max_steps=4, resume=True))


def test_resume_keeps_unspecified_flags_and_records_a_longer_run(short_run):
    run_dir = short_run.run_dir()
    r = run_ptt("train", "--output-dir", str(run_dir), "--resume", "--max-steps", "4", "--eval-every", "1")
    assert r.returncode == 0, r.stderr
    config = json.loads((run_dir / "config.json").read_text())
    assert config["train"]["backbone"] == short_run.backbone and config["train"]["prompt_length"] == 4
    assert config["train"]["max_steps"] == 4
    assert config["resumes"] == [{"at_step": 2, "changed": {"eval_every": [2, 1], "max_steps": [2, 4]}}]
    steps = [json.loads(x)["step"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == [0, 2, 3, 4]


HOLD = """
import sys, time
from ptt.runtime.lock import RunLock
RunLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_a_live_run_blocks_a_second_process_and_a_killed_one_does_not(short_run):
    run_dir = short_run.run_dir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True,
                              env=clean_env())
    try:
        assert holder.stdout.readline().strip() == "held"
        before = snapshot(run_dir)
        r = run_ptt("train", "--output-dir", str(run_dir), "--resume", "--max-steps", "3")
        assert r.returncode == 2, r.stderr
        assert f'"pid": {holder.pid}' in r.stderr and "alive" in r.stderr and "Traceback" not in r.stderr, r.stderr
        assert snapshot(run_dir) == before
    finally:
        holder.kill()  # SIGKILL: the lock file stays behind, the kernel's lock does not
        holder.wait()
    assert (run_dir / LOCK_FILE).exists()
    r = run_ptt("train", "--output-dir", str(run_dir), "--resume", "--max-steps", "3")
    assert r.returncode == 0, r.stderr
    assert load_prompt(run_dir / "last")[1]["step"] == 3


def test_overwrite_replaces_the_run_and_keeps_other_files(short_run):
    run_dir = short_run.run_dir()
    (run_dir / "notes.txt").write_text("kept")
    train(tiny_cfg(short_run.backbone, run_dir, max_steps=1, eval_every=1, ds_config="zero2_bf16", overwrite=True))
    assert (run_dir / "notes.txt").read_text() == "kept"
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("step*")) == ["step1"]  # the old run's step2 went
    assert json.loads((run_dir / "summary.json").read_text())["steps"] == 1


def test_a_run_started_with_a_relative_backbone_resumes_from_anywhere(tiny_models, tmp_path, monkeypatch):
    """The backbone is recorded as an absolute path; a folder recorded before that still resumes from the working
    directory it was started in. (`ptt train --resume` builds its config with `commands.train.config`.)"""
    work = tmp_path / "work"
    (work / "models").mkdir(parents=True)
    shutil.copytree(tiny_models["t5"], work / "models" / "t5")
    monkeypatch.chdir(work)
    train(tiny_cfg("models/t5", "run", max_steps=2, ds_config="zero2_bf16"))
    config = json.loads((work / "run" / "config.json").read_text())
    assert config["train"]["backbone"] == str(work / "models" / "t5")
    monkeypatch.chdir(tmp_path)
    assert train(resume_config({"output_dir": str(work / "run"), "max_steps": 3}, True))["steps"] == 3
    config["train"]["backbone"] = "models/t5"  # as recorded before: relative to where the run started
    (work / "run" / "config.json").write_text(json.dumps(config))
    monkeypatch.chdir(work)
    assert train(resume_config({"output_dir": "run", "max_steps": 4}, True))["steps"] == 4
