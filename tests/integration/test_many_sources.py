"""Starts made from several prompts: averaged library prompts (`--init-from avg`, the `avg` and `auto` arms)
and the bad inputs of library starts, on tiny models."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from ptt.cli import main
from ptt.commands import compare
from ptt.config import CompareConfig
from ptt.runtime.artifacts import load_prompt
from tests.helpers import assert_clean_error, tiny_cfg, fake_prompt, fields_of

TRAIN = ["--prompt-length", "4", "--max-length", "24", "--max-steps", "2", "--eval-every", "2", "--batch-size", "4",
         "--max-train-examples", "32", "--max-eval-examples", "8", "--precision", "fp32"]


@pytest.fixture(scope="module")
def library(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    for i, task in enumerate(("sst2", "mr", "rte", "snli")):
        fake_prompt(root / task, tiny_models["bert"], task, seed=i, family="encoder")
    return root


def test_init_from_avg_starts_from_the_mean_of_the_top_k_and_records_them(tiny_models, library, tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--backbone", tiny_models["bert"], "--task", "laptop", "--init-from", "avg:2",
                                  "--library", str(library), *TRAIN, "--output-dir", str(out)])
    assert r.exit_code == 0, r.output
    selection = json.loads((out / "selection.json").read_text())
    config = json.loads((out / "config.json").read_text())
    top = [row["path"] for row in selection["ranking"][:2]]
    made = config["init"]["made_from"]
    assert made["init"] == "average" and [s["path"] for s in made["sources"]] == top
    assert [s["weight"] for s in made["sources"]] == [0.5, 0.5] and made["rank_by"] == "balanced_accuracy"
    assert config["train"]["init_from"] == str(out / "init")  # the start is in the run folder
    start, meta = load_prompt(out / "init")
    mean = torch.stack([load_prompt(p)[0] for p in top]).mean(0)
    assert torch.allclose(start, mean, atol=1e-7) and meta["init"]["k"] == 2
    assert set(s["sha256"] for s in made["sources"]) == {load_prompt(p)[1]["sha256"] for p in top}
    # the run's averaged start, put into a library, is not ranked as a trained source
    lib2 = tmp_path / "lib2"
    shutil.copytree(library, lib2)
    shutil.copytree(out / "init", lib2 / "avg-start")
    r = CliRunner().invoke(main, ["transfer", "rank", "--task", "laptop", "--backbone", tiny_models["bert"],
                                  "--library", str(lib2), "--sample", "8", "--max-length", "24"])
    assert r.exit_code == 0, r.output
    assert "avg-start" in r.output and "no task (a start made from other prompts" in r.output
    shutil.copytree(library / "mr", lib2 / "mr-copy")  # the same prompt twice is one source
    r = CliRunner().invoke(main, ["transfer", "rank", "--task", "laptop", "--backbone", tiny_models["bert"],
                                  "--library", str(lib2), "--sample", "8", "--max-length", "24"])
    assert "the same prompt as another source" in r.output, r.output


def test_an_averaged_run_resumes_from_another_working_directory(tiny_models, library, tmp_path, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["train", "--backbone", tiny_models["bert"], "--task", "laptop", "--init-from",
                                  "avg:2", "--library", str(library), *TRAIN, "--output-dir", "run"])
    assert r.exit_code == 0, r.output
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    r = CliRunner().invoke(main, ["train", "--output-dir", str(out), "--resume", "--max-steps", "4"])
    assert r.exit_code == 0, r.output
    assert json.loads((out / "summary.json").read_text())["steps"] == 4


def test_auto_and_avg_arms_rank_once_and_start_every_seed_from_the_same_prompt(tiny_models, library, tmp_path):
    base = tiny_cfg(tiny_models["bert"], tmp_path / "unused", task="laptop", max_steps=2, eval_every=2)
    arms = f"random,auto:{library},avg:{library}:3"
    report = compare.run(CompareConfig(**{**fields_of(base, CompareConfig), "arms": arms, "seeds": 2,
                                          "output_dir": str(tmp_path / "cmp")}))
    out = tmp_path / "cmp"
    info = {a["spec"]: a for a in report["arms"]}
    selection = json.loads((out / "starts" / f"{info[f'auto:{library}']['name']}.selection.json").read_text())
    assert info[f"auto:{library}"]["start"]["choice"] == selection["ranking"][0]["path"]
    avg = info[f"avg:{library}:3"]
    assert [s["path"] for s in avg["start"]["sources"]] == [r["path"] for r in selection["ranking"][:3]]
    for seed in (42, 43):  # both seeds start the avg arm from the one averaged prompt
        config = json.loads((out / "runs" / f"{avg['name']}-seed{seed}" / "config.json").read_text())
        assert config["train"]["init_from"] == str(out / "starts" / avg["name"])
        assert config["init"]["made_from"]["k"] == 3
    step0 = [s["arms"][f"avg:{library}:3"]["step0"] for s in report["per_seed"]]
    assert step0[0] == step0[1]  # same start, same eval rows: the same step-0 metric on every seed


def test_library_start_bad_input(tiny_models, library, tmp_path):
    inv = lambda *a: CliRunner().invoke(main, list(a))  # noqa: E731
    common = ["--backbone", tiny_models["bert"], "--task", "laptop", *TRAIN]
    assert_clean_error(inv("train", *common, "--init-from", "avg:9", "--library", str(library), "--output-dir",
                           str(tmp_path / "a")), "avg:9", "4 usable", "k <= 4")
    assert_clean_error(inv("train", *common, "--init-from", "avg:x", "--library", str(library)), "avg:x",
                       "positive integer")
    mixed = tmp_path / "mixed"
    for i, task in enumerate(("sst2", "mr")):
        fake_prompt(mixed / task, tiny_models["bert"], task, seed=i, family="encoder")
    fake_prompt(mixed / "t5", tiny_models["t5"], "rte", hidden=32, family="seq2seq")
    assert_clean_error(inv("train", *common, "--init-from", "avg:2", "--library", str(mixed), "--output-dir",
                           str(tmp_path / "b")), "--library", "backbone", "move it out of the library")
    short = tmp_path / "short"
    fake_prompt(short / "sst2", tiny_models["bert"], "sst2", family="encoder")
    fake_prompt(short / "mr", tiny_models["bert"], "mr", length=6, family="encoder")
    assert_clean_error(inv("train", *common, "--init-from", "avg", "--library", str(short), "--output-dir",
                           str(tmp_path / "c")), "--library", "length 6", "move it out of the library")
    cmp = ["transfer", "compare", "--task", "laptop", "--backbone", tiny_models["bert"], *TRAIN, "--output-dir",
           str(tmp_path / "cmp")]
    assert_clean_error(inv(*cmp, "--arms", f"random,avg:{library}:7"), "avg:7", "k <= 4")
    assert_clean_error(inv(*cmp, "--arms", "random,bogus"), "--arms", "bogus", "from:PATH")
    assert_clean_error(inv(*cmp, "--arms", "random,vocab", "--source", str(library / "sst2")), "--arms/--source")
    assert_clean_error(inv(*cmp, "--arms", "random,vocab", "--baseline-arm", "labels"), "--baseline-arm")
    assert_clean_error(inv(*cmp[:-2], "--output-dir", str(tmp_path / "cmp"), "--arms", f"random,avg:{library}:x"),
                       f"{library}:x does not exist", "avg:LIB[:K]")
    assert_clean_error(inv("train", *common, "--library", str(library)), "--library", "--init-from auto")
    assert_clean_error(inv("train", *common, "--init-from", "auto", "--library", str(library), "--rank-by", "vibes"),
                       "--rank-by", "vibes", "balanced_accuracy")
    assert_clean_error(inv("transfer", "rank", "--task", "laptop", "--backbone", tiny_models["bert"], "--library",
                           str(library), "--rank-by", "f2"), "--rank-by", "f2")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_rank_by_accuracy_orders_and_records_by_accuracy(tiny_models, library):
    from ptt.config import RankConfig
    from ptt.transfer.sources.ranking import rank_library

    cfg = RankConfig(task="laptop", backbone=tiny_models["bert"], library=str(library), sample=16, max_length=24,
                     precision="fp32", rank_by="accuracy")
    result = rank_library(cfg.library, cfg, sample=cfg.sample)
    assert result["rank_by"] == "accuracy" and "zero-shot accuracy" in result["criterion"]
    values = [r["accuracy"] for r in result["ranking"]]
    assert values == sorted(values, reverse=True) and values == [r["metrics"]["accuracy"] for r in result["ranking"]]
