"""Cross-model transfer on tiny models of different families and hidden sizes: prompts of a masked-LM BERT
(hidden 48) mapped into a seq2seq T5 (hidden 32)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from ptt.cli import main
from ptt.runtime.artifacts import load_prompt
from ptt.runtime.zero import gathered
from ptt.training import build_trainer
from ptt.transfer.cross_model.projector import Projector, ProjectedPrompt, ProjectorShape
from tests.helpers import (FIXTURES, REPO, clean_env, deepspeed_launcher, free_port, assert_clean_error, tiny_cfg,
                           backbone_snapshot, fake_prompt)

SKEWED = str(FIXTURES / "skewed_neg_sst2.jsonl")  # 90% negative


@pytest.fixture(scope="module")
def src_prompts(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("mlm-src")
    return {t: fake_prompt(root / t, tiny_models["bert_mlm"], t, seed=i) for i, t in enumerate(("sst2", "mr", "rte"))}


def test_a_task_step_changes_only_the_projector(tiny_models, src_prompts, tmp_path):
    sources = {"sst2": load_prompt(src_prompts["sst2"])[0]}  # [4, 48]
    made = {}

    def make(hidden, dtype):
        made["m"] = ProjectedPrompt(Projector(ProjectorShape(4, 48, 4, hidden, hidden=16)), sources).to(dtype)
        return made["m"]

    trainer = build_trainer(tiny_cfg(tiny_models["t5"], tmp_path), prompt_module=make)
    try:
        proj = made["m"].projector
        before_b = backbone_snapshot(trainer.scorer.model)
        with gathered(list(proj.parameters())):
            before_p = [p.detach().clone() for p in proj.parameters()]
        before_src = made["m"].sources.clone()
        trainer.step(0)
        with gathered(list(proj.parameters())):
            after_p = [p.detach().clone() for p in proj.parameters()]
        assert all(not torch.equal(a, b) for a, b in zip(before_p, after_p))
        assert torch.equal(before_src, made["m"].sources)
        for name, value in backbone_snapshot(trainer.scorer.model).items():
            assert torch.equal(value, before_b[name]), name
    finally:
        trainer.close()


def test_task_objective_beats_a_random_prompt_and_round_trips_through_eval(tiny_models, src_prompts, tmp_path):
    out = tmp_path / "proj"
    common = ["--train-file", SKEWED, "--eval-file", SKEWED, "--text-field", "text", "--max-eval-examples", "100",
              "--max-length", "24", "--batch-size", "8", "--precision", "fp32"]
    r = CliRunner().invoke(main, ["transfer", "project", "fit", "--source-backbone", tiny_models["bert_mlm"],
                                  "--target-backbone", tiny_models["t5"], "--objective", "task", "--source-prompts",
                                  src_prompts["sst2"], "--projector-hidden", "32", "--max-steps", "30",
                                  "--eval-every", "30", "--lr", "0.01", "--output-dir", str(out), *common])
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "projector.json").read_text())
    assert meta["objective"] == "task" and meta["tasks"] == ["sst2"] and meta["target_family"] == "seq2seq"
    assert meta["shape"]["source_hidden"] == 48 and meta["shape"]["target_hidden"] == 32
    projected_acc = meta["metrics"]["sst2"]["accuracy"]
    # the training recipe's run folder: what the run decided, and one metrics row per evaluation
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows == meta["history"] and [r["step"] for r in rows] == [30]
    run = json.loads((out / "config.json").read_text())
    assert run["train"]["backbone"] == tiny_models["t5"] and run["train"]["lr"] == 0.01
    assert run["init"]["init"] == "projector" and (out / "ds_config.json").is_file()

    r = CliRunner().invoke(main, ["transfer", "project", "apply", "--projector", str(out), "--prompt",
                                  src_prompts["sst2"], "--output-dir", str(tmp_path / "applied")])
    assert r.exit_code == 0, r.output
    tensor, pmeta = load_prompt(tmp_path / "applied")
    assert tensor.shape == (4, 32) and pmeta["init"]["init"] == "projected" and pmeta["family"] == "seq2seq"
    r = CliRunner().invoke(main, ["eval", "--prompt", str(tmp_path / "applied"), "--eval-file", SKEWED,
                                  "--text-field", "text", "--max-eval-examples", "100", "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    evaluated = json.loads(r.output.strip().splitlines()[-1])["accuracy"]
    assert evaluated == pytest.approx(projected_acc)

    random_run = tmp_path / "random"
    r = CliRunner().invoke(main, ["train", "--backbone", tiny_models["t5"], "--prompt-length", "4", "--max-steps",
                                  "1", "--eval-every", "1", "--output-dir", str(random_run), *common])
    assert r.exit_code == 0, r.output
    random_acc = json.loads((random_run / "metrics.jsonl").read_text().splitlines()[0])["accuracy"]  # step 0
    assert projected_acc > random_acc

    # config.json names the kind of run and what the fit read; no other kind of job resumes or replaces the folder
    assert run["kind"] == "projector" and run["project_fit"]["objective"] == "task"
    assert run["project_fit"]["lr"] == 0.01 and "target_prompts" not in run["project_fit"]
    assert run["sources"][0]["path"] == str(Path(src_prompts["sst2"]).resolve()) and run["sources"][0]["sha256"]
    weights = (out / "projector.safetensors").read_bytes()
    for flag in ("--resume", "--overwrite"):
        r = CliRunner().invoke(main, ["train", "--output-dir", str(out), flag])
        assert_clean_error(r, f"--output-dir {out}", "holds a projector fit", "not a prompt training run")
    assert (out / "projector.safetensors").read_bytes() == weights and (out / "config.json").is_file()
    held = sorted(p.name for p in random_run.iterdir())
    r = CliRunner().invoke(main, ["transfer", "project", "fit", "--source-backbone", tiny_models["bert_mlm"],
                                  "--target-backbone", tiny_models["t5"], "--objective", "task", "--source-prompts",
                                  src_prompts["sst2"], "--output-dir", str(random_run), "--overwrite"])
    assert_clean_error(r, f"--output-dir {random_run}", "holds a prompt training run", "not a projector fit")
    assert sorted(p.name for p in random_run.iterdir()) == held


def test_task_objective_cycles_the_tasks_step_by_step(tiny_models, src_prompts, tmp_path):
    """Step i trains on task i mod T and every evaluation scores every task (read back from TensorBoard)."""
    out = tmp_path / "cyc"
    r = CliRunner().invoke(main, ["transfer", "project", "fit", "--source-backbone", tiny_models["bert_mlm"],
                                  "--target-backbone", tiny_models["t5"], "--objective", "task", "--source-prompts",
                                  src_prompts["sst2"], src_prompts["mr"], "--projector-hidden", "16",
                                  "--max-steps", "4", "--eval-every", "2", "--batch-size", "4", "--log-every", "4",
                                  "--max-train-examples", "16", "--max-eval-examples", "8", "--max-length", "24",
                                  "--precision", "fp32", "--output-dir", str(out)])
    assert r.exit_code == 0, r.output
    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    steps = lambda tag: [e.step for e in acc.Scalars(tag)]  # noqa: E731
    assert steps("train/loss/sst2") == [1, 3] and steps("train/loss/mr") == [2, 4]
    assert steps("eval/sst2/accuracy") == steps("eval/mr/accuracy") == [2, 4]
    assert steps("train/loss") == [4]  # the recipe's own log, every --log-every


def test_task_objective_overwrite_replaces_only_what_a_fit_writes(tiny_models, src_prompts, tmp_path):
    out = tmp_path / "proj"
    fit = ["transfer", "project", "fit", "--source-backbone", tiny_models["bert_mlm"], "--target-backbone",
           tiny_models["t5"], "--objective", "task", "--source-prompts", src_prompts["sst2"], "--projector-hidden", "8",
           "--max-steps", "2", "--eval-every", "2", "--batch-size", "4", "--max-train-examples", "8",
           "--max-eval-examples", "8", "--max-length", "24", "--precision", "fp32", "--output-dir", str(out)]
    r = CliRunner().invoke(main, fit)
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(main, ["transfer", "project", "apply", "--projector", str(out), "--prompt",
                                  src_prompts["mr"], "--output-dir", str(out / "mr-projected")])
    assert r.exit_code == 0, r.output
    (out / "notes.txt").write_text("kept")
    for name in ("projector.json", "projector.safetensors"):  # what a fit killed before its end leaves
        (out / name).unlink()
    r = CliRunner().invoke(main, fit)
    assert_clean_error(r, f"--output-dir {out}", "already holds a projector fit", "--overwrite")
    assert "--resume" not in r.output  # project fit has no --resume to offer
    r = CliRunner().invoke(main, [*fit, "--overwrite"])
    assert r.exit_code == 0, r.output
    assert (out / "notes.txt").read_text() == "kept" and load_prompt(out / "mr-projected")[0].shape == (4, 32)
    assert len(list((out / "tb").iterdir())) == 1  # the old fit's event file went with it
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [2]
    assert (out / "projector.json").is_file() and not (out / ".ptt.lock").exists()


def test_distance_objective_through_the_cli(tiny_models, src_prompts, tmp_path):
    targets = {t: fake_prompt(tmp_path / f"tgt-{t}", tiny_models["t5"], t, hidden=32, seed=10 + i, family="seq2seq")
               for i, t in enumerate(("sst2", "mr"))}
    r = CliRunner().invoke(main, ["transfer", "project", "fit", "--source-backbone", tiny_models["bert_mlm"],
                                  "--target-backbone", tiny_models["t5"], "--objective", "distance",
                                  "--source-prompts", src_prompts["sst2"], "--source-prompts", src_prompts["mr"],
                                  "--target-prompts", targets["sst2"], "--target-prompts", targets["mr"],
                                  "--projector-hidden", "64", "--max-steps", "300", "--lr", "0.01",
                                  "--output-dir", str(tmp_path / "d")])
    assert r.exit_code == 0, r.output
    meta = json.loads((tmp_path / "d" / "projector.json").read_text())
    assert meta["tasks"] == ["mr", "sst2"] and meta["metrics"]["final_distance_loss"] < 0.05


def test_projector_bad_input(tiny_models, src_prompts, tmp_path):
    inv = lambda *a: CliRunner().invoke(main, list(a))  # noqa: E731
    base = ["transfer", "project", "fit", "--source-backbone", tiny_models["bert_mlm"], "--target-backbone",
            tiny_models["t5"], "--output-dir", str(tmp_path / "p")]
    # a distance fit with no paired prompts
    r = inv(*base, "--objective", "distance", "--source-prompts", src_prompts["sst2"])
    assert_clean_error(r, "--target-prompts", "no prompt pairs")
    # mismatched task lists
    r = inv(*base, "--objective", "task", "--source-prompts", src_prompts["sst2"], "--tasks", "sst2,mnli")
    assert_clean_error(r, "--tasks", "mnli")
    # source prompts that are not of the source backbone
    t5_prompt = fake_prompt(tmp_path / "b", tiny_models["t5"], "sst2", hidden=32, family="seq2seq")
    r = inv(*base, "--objective", "task", "--source-prompts", t5_prompt)
    assert_clean_error(r, f"--source-prompts {t5_prompt}", "hidden size 32", "--source-backbone", "hidden size 48")
    # a run folder holds two prompts of its task (best/ and last/): both are named
    run = tmp_path / "run"
    for name in ("best", "last"):
        fake_prompt(run / name, tiny_models["bert_mlm"], "sst2")
    r = inv(*base, "--objective", "task", "--source-prompts", str(run))
    assert_clean_error(r, "--source-prompts", "two prompts for task sst2", str(run / "best"), str(run / "last"))
    # a projector applied to a prompt of the wrong backbone / size
    targets = fake_prompt(tmp_path / "t", tiny_models["t5"], "sst2", hidden=32, family="seq2seq")
    r = inv(*base, "--objective", "distance", "--source-prompts", src_prompts["sst2"], "--target-prompts", targets,
            "--max-steps", "5")
    assert r.exit_code == 0, r.output
    # a second fit into that folder: refused unless --overwrite, and the projector there is left as it was
    written = (tmp_path / "p" / "projector.safetensors").read_bytes()
    again = [*base, "--objective", "distance", "--source-prompts", src_prompts["sst2"], "--target-prompts", targets,
             "--max-steps", "3"]
    assert_clean_error(inv(*again), "--output-dir", "already holds a projector", "--overwrite")
    assert (tmp_path / "p" / "projector.safetensors").read_bytes() == written
    (tmp_path / "p" / "notes.txt").write_text("kept")
    r = inv(*again, "--overwrite")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "p" / "projector.json").read_text())["steps"] == 3
    assert (tmp_path / "p" / "notes.txt").read_text() == "kept" and len(list((tmp_path / "p" / "tb").iterdir())) == 1
    run = json.loads((tmp_path / "p" / "config.json").read_text())
    assert run["kind"] == "projector" and run["project_fit"]["max_steps"] == 3 and run["seed"] == 42
    assert run["project_fit"]["lr"] == 1e-3 and "batch_size" not in run["project_fit"]  # resolved; only what it reads
    assert run["project_fit"]["source_prompts"] == [str(Path(src_prompts["sst2"]).resolve())]
    assert [s["task"] for s in run["sources"]] == [t["task"] for t in run["targets"]] == ["sst2"]
    # a training flag given to the distance objective is refused, not ignored, and nothing is written
    r = inv(*base[:-1], str(tmp_path / "w"), "--objective", "distance", "--source-prompts", src_prompts["sst2"],
            "--target-prompts", targets, "--warmup-steps", "10")
    assert_clean_error(r, "--warmup-steps 10", "distance objective does not read it", "--objective task")
    assert not (tmp_path / "w").exists()
    # --tasks picks the pairs to fit; a task without a pair is named
    r = inv(*base[:-1], str(tmp_path / "w"), "--objective", "distance", "--source-prompts", src_prompts["sst2"],
            src_prompts["mr"], "--target-prompts", targets, "--tasks", "sst2,mr")
    assert_clean_error(r, "--tasks", "no prompt pair for mr")
    # one --train-file for several tasks would be read as each task's data
    r = inv(*base[:-1], str(tmp_path / "two"), "--objective", "task", "--source-prompts", src_prompts["sst2"],
            src_prompts["mr"], "--train-file", SKEWED, "--text-field", "text")
    assert_clean_error(r, f"--train-file {SKEWED}", "2 tasks")
    assert not (tmp_path / "two").exists()
    r = inv("transfer", "project", "apply", "--projector", str(tmp_path / "p"), "--prompt", t5_prompt,
            "--output-dir", str(tmp_path / "out"))
    assert_clean_error(r, "--prompt", "projector maps [4, 48]")
    # apply writes a folder of its own: an occupied one only with --overwrite, a run folder never
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    apply = ["transfer", "project", "apply", "--projector", str(tmp_path / "p"), "--prompt", src_prompts["sst2"]]
    assert_clean_error(inv(*apply, "--output-dir", str(tmp_path / "busy")), "--output-dir", "not empty", "--overwrite")
    assert not (tmp_path / "busy" / "prompt.json").exists()
    assert inv(*apply, "--output-dir", str(tmp_path / "busy"), "--overwrite").exit_code == 0
    assert load_prompt(tmp_path / "busy")[0].shape == (4, 32)
    for occupied in (tmp_path / "p", tiny_models["t5"]):  # a projector fit, a model: each holds a config.json
        assert_clean_error(inv(*apply, "--output-dir", str(occupied), "--overwrite"), "--output-dir", "a run folder")
    assert not (tmp_path / "p" / "prompt.json").exists()
    r = inv("transfer", "project", "apply", "--projector", str(tmp_path / "nothing"), "--prompt",
            src_prompts["sst2"], "--output-dir", str(tmp_path / "out"))
    assert_clean_error(r, "--projector")
    r = inv(*base, "--objective", "magic", "--source-prompts", src_prompts["sst2"])
    assert_clean_error(r, "--objective magic")


def test_task_objective_two_rank_zero3_through_the_launcher(tiny_models, src_prompts, tmp_path):
    out = tmp_path / "proj"
    cmd = [deepspeed_launcher(), "--num_gpus", "2", "--master_port", str(free_port()),
           str(REPO / "launch" / "ptt_main.py"), "transfer", "project", "fit",
           "--source-backbone", tiny_models["bert_mlm"], "--target-backbone", tiny_models["t5"],
           "--objective", "task", "--source-prompts", src_prompts["sst2"], "--source-prompts", src_prompts["mr"],
           "--projector-hidden", "16", "--max-steps", "4", "--eval-every", "2", "--batch-size", "4",
           "--max-train-examples", "32", "--max-eval-examples", "16", "--max-length", "24",
           "--ds-config", "zero3_bf16", "--precision", "fp32", "--output-dir", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=clean_env(PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    meta = json.loads((out / "projector.json").read_text())
    assert meta["tasks"] == ["sst2", "mr"] and [h["step"] for h in meta["history"]] == [2, 4]
    assert meta["train"]["ds_config"] == "zero3_bf16"
    from safetensors.torch import load_file

    weights = load_file(str(out / "projector.safetensors"))
    assert weights["net.0.weight"].shape == (16, 48) and weights["net.2.weight"].shape == (32, 16)
