"""Automatic source selection and the indicators command on tiny models."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ptt.cli import main
from ptt.transfer.sources.ranking import rank_library
from tests.helpers import assert_clean_error, tiny_cfg, fake_prompt


@pytest.fixture(scope="module")
def library(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    t5 = tiny_models["t5"]
    for i, task in enumerate(("sst2", "mr", "rte", "imdb")):
        fake_prompt(root / task, t5, task, hidden=32, seed=i, family="seq2seq")
    fake_prompt(root / "other-backbone", tiny_models["bert_mlm"], "sst2", hidden=48)
    return root


def test_rank_library_scores_same_backbone_sources_and_skips_the_rest(tiny_models, library, tmp_path):
    result = rank_library(str(library), tiny_cfg(tiny_models["t5"], tmp_path, task="imdb"), sample=32)
    ranked = [r["task"] for r in result["ranking"]]
    assert sorted(ranked) == ["mr", "rte", "sst2"]  # imdb itself is the target; bert_mlm is another backbone
    assert result["rank_by"] == "balanced_accuracy"  # the default: a label prior cannot win it
    scores = [r["balanced_accuracy"] for r in result["ranking"]]
    assert scores == sorted(scores, reverse=True)
    for r in result["ranking"]:  # every criterion is recorded beside the one ranked by
        assert set(r["metrics"]) >= {"accuracy", "macro_f1", "balanced_accuracy", "gold_log_prob",
                                     "top_prediction_share"}
        assert r["metrics"]["gold_log_prob"] < 0 and r["balanced_accuracy"] == r["metrics"]["balanced_accuracy"]
    reasons = {s["task"]: s["reason"] for s in result["skipped"]}
    assert reasons["imdb"] == "same task as the target" and "other backbone" in reasons["sst2"]
    assert result["choice"] == result["ranking"][0]["path"]


def test_init_from_auto_records_the_ranking_and_starts_from_the_winner(tiny_models, library, tmp_path):
    out = tmp_path / "run"
    r = CliRunner().invoke(main, ["train", "--backbone", tiny_models["t5"], "--task", "imdb", "--init-from", "auto",
                                  "--library", str(library), "--prompt-length", "4", "--max-length", "24",
                                  "--max-steps", "1", "--eval-every", "1", "--batch-size", "4",
                                  "--max-train-examples", "32", "--max-eval-examples", "8", "--output-dir", str(out)])
    assert r.exit_code == 0, r.output
    selection = json.loads((out / "selection.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["init"]["source"] == selection["choice"] and config["train"]["init_from"] == selection["choice"]
    r = CliRunner().invoke(main, ["transfer", "rank", "--task", "imdb", "--backbone", tiny_models["t5"],
                                  "--library", str(library), "--sample", "32", "--max-length", "24"])
    assert r.exit_code == 0, r.output
    assert "ranking for imdb" in r.output and "skipped" in r.output


def test_selection_and_indicator_bad_input(tiny_models, library, tmp_path):
    inv = lambda *a: CliRunner().invoke(main, list(a))  # noqa: E731
    (tmp_path / "empty").mkdir()
    assert_clean_error(inv("transfer", "rank", "--task", "mr", "--backbone", tiny_models["t5"], "--library",
                           str(tmp_path / "empty")), "empty")
    assert_clean_error(inv("train", "--init-from", "auto"), "--init-from auto", "--library")
    assert_clean_error(inv("transfer", "rank", "--task", "mr", "--backbone", tiny_models["roberta"], "--library",
                           str(library)), "--library", "no usable source")
    # one indicator call with prompts of two backbones
    assert_clean_error(inv("indicators", "--prompts", str(library / "sst2"), "--prompts",
                           str(library / "other-backbone"), "--output-dir", str(tmp_path / "i")), "projector")
    # a transfer matrix whose labels do not match the prompts
    matrix = tmp_path / "matrix.json"
    matrix.write_text(json.dumps({"rows": ["sst2", "qqp", "random"], "tasks": ["sst2"], "values": [[1], [1], [1]]}))
    r = inv("indicators", "--prompts", str(library / "sst2"), "--prompts", str(library / "mr"), "--output-dir",
            str(tmp_path / "i"), "--transfer-matrix", str(matrix))
    assert_clean_error(r, "--transfer-matrix", "qqp")
