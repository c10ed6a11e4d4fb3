"""Cross-task transfer on tiny models: the matrix, and the random-vs-transfer comparison."""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import ptt.training
from ptt.cli import main
from ptt.commands import compare, transfer_eval
from ptt.commands import train as train_command
from ptt.config import CompareConfig, ScoreConfig, TrainConfig, TransferEvalConfig
from tests.integration.test_bad_input import assert_clean_error
from tests.integration.test_train_tiny import tiny_cfg


def fields_of(cfg, cls) -> dict:
    """cfg's values of the fields `cls` has (the shared settings a job config takes over from a TrainConfig)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in dataclasses.asdict(cfg).items() if k in names}


@pytest.fixture(scope="module")
def bert_prompts(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("prompts")
    out = {}
    for task in ("sst2", "rte"):
        train_command.run(tiny_cfg(tiny_models["bert"], root / task, task=task, max_steps=2, eval_every=2))
        out[task] = str(root / task / "best")
    return out


def test_matrix_shape_labels_and_relative_view(bert_prompts, tmp_path):
    base = tiny_cfg("unused", tmp_path / "unused")
    result = transfer_eval.run(TransferEvalConfig(prompts=(bert_prompts["sst2"], bert_prompts["rte"]),
                                                  tasks="sst2,rte,mr", output_dir=str(tmp_path / "m"), init=base.init,
                                                  **fields_of(base, ScoreConfig)))
    assert result["rows"] == ["sst2", "rte", "random"]
    assert result["tasks"] == ["sst2", "rte", "mr"]
    assert len(result["values"]) == 3 and all(len(r) == 3 for r in result["values"])
    assert result["relative"][0][0] == pytest.approx(1.0) and result["relative"][1][1] == pytest.approx(1.0)
    assert result["relative"][0][2] is None  # no mr prompt given: no relative view for that column
    assert result["own_prompt"] == {"sst2": "sst2", "rte": "rte", "mr": None}
    names = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"matrix.json", "matrix.csv", "matrix.png"} <= names
    header = (tmp_path / "m" / "matrix.csv").read_text().splitlines()[0]
    assert header == "source,sst2,rte,mr,relative:sst2,relative:rte,relative:mr"


def test_compare_arms_share_data_order_and_seeds(bert_prompts, tiny_models, tmp_path, monkeypatch):
    seen: list[tuple[int, int, tuple[int, ...]]] = []
    real = ptt.training.global_batch

    def recording(n, seed, step, batch_size, lengths=None):
        out = real(n, seed, step, batch_size, lengths)
        seen.append((seed, step, tuple(out)))
        return out

    monkeypatch.setattr(ptt.training, "global_batch", recording)
    base = tiny_cfg(tiny_models["bert"], tmp_path / "unused", task="mr", max_steps=4, eval_every=2)
    report = compare.run(CompareConfig(**{**fields_of(base, TrainConfig), "source": bert_prompts["sst2"],
                                          "seeds": 2, "output_dir": str(tmp_path / "cmp")}))
    runs = [seen[i:i + 4] for i in range(0, len(seen), 4)]
    assert len(runs) == 4  # seed 42 random, seed 42 transfer, seed 43 random, seed 43 transfer
    assert runs[0] == runs[1] and runs[2] == runs[3]
    assert runs[0] != runs[2]
    cfgs = {name: json.loads((tmp_path / "cmp" / "runs" / name / "config.json").read_text())["train"]
            for name in ("random-seed42", "transfer-seed42")}
    differ = {k for k in cfgs["random-seed42"] if cfgs["random-seed42"][k] != cfgs["transfer-seed42"][k]}
    assert differ == {"init_from", "output_dir", "tb_dir"}

    assert report["seeds"] == [42, 43] and len(report["per_seed"]) == 2
    for seed in report["per_seed"]:
        assert [p[0] for p in seed["arms"]["random"]["curve"]] == [0, 2, 4]
        assert [p[0] for p in seed["arms"]["transfer"]["curve"]] == [0, 2, 4]
    assert {"report.json", "report.md", "curves.png", "tb", "runs"} <= {p.name for p in (tmp_path / "cmp").iterdir()}
    tags = []
    for name in ("random-seed42", "transfer-seed42"):
        acc = EventAccumulator(str(tmp_path / "cmp" / "tb" / name))
        acc.Reload()
        tags.append(set(acc.Tags()["scalars"]))
    assert tags[0] == tags[1] and "eval/accuracy" in tags[0]
    assert "steps to target" in (tmp_path / "cmp" / "report.md").read_text()


def test_transfer_bad_input(bert_prompts, tiny_models, tmp_path):
    inv = CliRunner().invoke
    r = inv(main, ["transfer", "compare", "--task", "mr", "--source", bert_prompts["sst2"], "--seeds", "0",
                   "--output-dir", str(tmp_path / "a")])
    assert_clean_error(r, "--seeds 0")
    r = inv(main, ["transfer", "compare", "--task", "nope", "--source", bert_prompts["sst2"],
                   "--output-dir", str(tmp_path / "a")])
    assert_clean_error(r, "--task", "nope")
    r = inv(main, ["transfer", "compare", "--task", "mr", "--source", bert_prompts["sst2"], "--max-steps", "4",
                   "--eval-every", "8", "--output-dir", str(tmp_path / "a")])
    assert_clean_error(r, "--eval-every 8")
    r = inv(main, ["transfer", "compare", "--task", "mr", "--source", bert_prompts["sst2"], "--backbone",
                   tiny_models["t5"], "--max-steps", "2", "--eval-every", "1", "--output-dir", str(tmp_path / "a")])
    assert_clean_error(r, "--source", "hidden size 48", "32")
    assert not (tmp_path / "a").exists()  # refused before any arm trained
    t5_run = tmp_path / "t5"
    train_command.run(tiny_cfg(tiny_models["t5"], t5_run, max_steps=1, eval_every=1))
    r = inv(main, ["transfer", "eval", "--prompts", bert_prompts["sst2"], "--prompts", str(t5_run / "best"),
                   "--tasks", "sst2", "--output-dir", str(tmp_path / "m")])
    assert_clean_error(r, "--prompts", "projector")
    r = inv(main, ["transfer", "eval", "--prompts", bert_prompts["sst2"], "--tasks", "sst2,bogus",
                   "--output-dir", str(tmp_path / "m")])
    assert_clean_error(r, "bogus")
