"""Cross-task transfer on tiny models: the matrix, and the random-vs-transfer comparison."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import ptt.training
from ptt.cli import main
from ptt.commands import compare, transfer_eval
from ptt.commands import train as train_command
from ptt.core.encode import encode_split
from ptt.core.tasks import get_task
from ptt.families import detect_family
from ptt.families.loading import load_config, load_tokenizer
from ptt.config import CompareConfig, TransferEvalConfig
from tests.helpers import assert_clean_error, tiny_cfg, fields_of


@pytest.fixture(scope="module")
def bert_prompts(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("prompts")
    out = {}
    for task in ("sst2", "rte"):
        train_command.run(tiny_cfg(tiny_models["bert"], root / task, task=task, max_steps=2, eval_every=2))
        out[task] = str(root / task / "best")
    return out


def base_backbone(prompts: dict) -> str:
    return json.loads((Path(prompts["sst2"]) / "prompt.json").read_text())["backbone"]


def test_matrix_shape_labels_and_relative_view(bert_prompts, tmp_path):
    base = tiny_cfg("unused", tmp_path / "unused")
    result = transfer_eval.run(TransferEvalConfig.of(base, prompts=(bert_prompts["sst2"], bert_prompts["rte"]),
                                                     tasks="sst2,rte,mr", output_dir=str(tmp_path / "m")))
    assert result["rows"] == ["sst2", "rte", "random"]
    assert result["tasks"] == ["sst2", "rte", "mr"]
    assert len(result["values"]) == 3 and all(len(r) == 3 for r in result["values"])
    assert result["relative"][0][0] == pytest.approx(1.0) and result["relative"][1][1] == pytest.approx(1.0)
    assert result["relative"][0][2] is None  # no mr prompt given: no relative view for that column
    assert result["own_prompt"] == {"sst2": "sst2", "rte": "rte", "mr": None}
    names = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"matrix.json", "matrix.csv", "matrix.png"} <= names
    header = (tmp_path / "m" / "matrix.csv").read_text().splitlines()[0]
    assert header == ("source,sst2,rte,mr,relative:sst2,relative:rte,relative:mr,macro_f1:sst2,macro_f1:rte,"
                      "macro_f1:mr")
    lines = (tmp_path / "m" / "matrix.csv").read_text().splitlines()
    assert lines[-1].startswith("majority-class,")  # the accuracy a label prior alone reaches, per target
    backbone = base_backbone(bert_prompts)
    family, tokenizer = detect_family(load_config(backbone)), load_tokenizer(backbone)
    for t in ("sst2", "rte", "mr"):  # the commonest eval label and its share, counted here from the eval split
        labels = [r["label"] for r in encode_split(base, get_task(t), tokenizer, family, "eval", base.max_length)]
        counts = Counter(labels)
        commonest = {get_task(t).label_names[k] for k, n in counts.items() if n == max(counts.values())}
        assert result["majority_class"][t]["accuracy"] == max(counts.values()) / len(labels)
        assert result["majority_class"][t]["label"] in commonest
    for i, row in enumerate(result["rows"]):  # the macro-F1 block is each cell's own macro-F1
        assert result["macro_f1"][i] == [result["all_metrics"][row][t]["macro_f1"] for t in result["tasks"]]


def test_compare_arms_share_data_order_and_seeds(bert_prompts, tiny_models, tmp_path, monkeypatch):
    seen: list[tuple[int, int, tuple[int, ...]]] = []
    real = ptt.training.global_batch

    def recording(n, seed, step, batch_size, lengths=None):
        out = real(n, seed, step, batch_size, lengths)
        seen.append((seed, step, tuple(out)))
        return out

    monkeypatch.setattr(ptt.training, "global_batch", recording)
    base = tiny_cfg(tiny_models["bert"], tmp_path / "unused", task="mr", max_steps=4, eval_every=2)
    arms = f"random,vocab,from:{bert_prompts['sst2']}"
    report = compare.run(CompareConfig(**{**fields_of(base, CompareConfig), "arms": arms, "seeds": 2,
                                          "output_dir": str(tmp_path / "cmp")}))
    runs = [seen[i:i + 4] for i in range(0, len(seen), 4)]
    assert len(runs) == 6  # seed 42: random, vocab, from; seed 43: the same three
    assert runs[0] == runs[1] == runs[2] and runs[3] == runs[4] == runs[5]
    assert runs[0] != runs[3]
    # every run records a running hash of its batch indices; the report checks them arm against arm
    assert report["data_order_shared"] is True
    assert all(len(set(o.values())) == 1 for o in report["data_order"])
    assert report["data_order"][0]["random"] != report["data_order"][1]["random"]
    names = {a["spec"]: a["name"] for a in report["arms"]}
    assert names == {"random": "random", "vocab": "vocab", f"from:{bert_prompts['sst2']}": "from-sst2-best"}
    cfgs = {n: json.loads((tmp_path / "cmp" / "runs" / f"{n}-seed42" / "config.json").read_text())
            for n in names.values()}
    differ = {k for k in cfgs["random"]["train"] if cfgs["random"]["train"][k] != cfgs["from-sst2-best"]["train"][k]}
    assert differ == {"init", "init_from", "output_dir", "tb_dir"}
    assert cfgs["random"]["init"]["init"] == "uniform" and cfgs["vocab"]["init"]["init"] == "vocab"
    assert cfgs["from-sst2-best"]["init"]["source"] == bert_prompts["sst2"]

    assert report["seeds"] == [42, 43] and len(report["per_seed"]) == 2 and report["baseline"] == "random"
    assert set(report["paired"]) == {"vocab", f"from:{bert_prompts['sst2']}"}
    for seed in report["per_seed"]:
        for arm in names:
            assert [p[0] for p in seed["arms"][arm]["curve"]] == [0, 2, 4]
    paired = report["paired"]["vocab"]["auc"]  # recomputed from the per-seed figures
    assert paired["differences"] == pytest.approx([s["arms"]["vocab"]["auc"] - s["arms"]["random"]["auc"]
                                                   for s in report["per_seed"]])
    assert report["majority_class"]["accuracy"] >= 0.5 and set(report["macro_f1"]) == set(names)
    assert {"report.json", "report.md", "curves.png", "tb", "runs"} <= {p.name for p in (tmp_path / "cmp").iterdir()}
    tags = []
    for n in names.values():  # TensorBoard runs are named by arm and seed
        for seed in (42, 43):
            acc = EventAccumulator(str(tmp_path / "cmp" / "tb" / f"{n}-seed{seed}"))
            acc.Reload()
            tags.append(set(acc.Tags()["scalars"]))
    assert all(t == tags[0] for t in tags) and "eval/accuracy" in tags[0] and "eval/macro_f1" in tags[0]
    text = (tmp_path / "cmp" / "report.md").read_text()
    assert "steps to target" in text and "wins" in text and "Majority class" in text


def test_source_flag_is_the_random_and_from_arms(bert_prompts, tiny_models, tmp_path):
    base = tiny_cfg(tiny_models["bert"], tmp_path / "unused", task="mr", max_steps=2, eval_every=2)
    report = compare.run(CompareConfig(**{**fields_of(base, CompareConfig), "source": bert_prompts["sst2"], "seeds": 1,
                                          "output_dir": str(tmp_path / "cmp")}))
    assert [a["spec"] for a in report["arms"]] == ["random", f"from:{bert_prompts['sst2']}"]
    assert report["source"]["task"] == "sst2"


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
    assert_clean_error(r, "--arms from:", "hidden size 48", "32")
    assert not (tmp_path / "a").exists()  # refused before any arm trained
    t5_run = tmp_path / "t5"
    train_command.run(tiny_cfg(tiny_models["t5"], t5_run, max_steps=1, eval_every=1))
    r = inv(main, ["transfer", "eval", "--prompts", bert_prompts["sst2"], "--prompts", str(t5_run / "best"),
                   "--tasks", "sst2", "--output-dir", str(tmp_path / "m")])
    assert_clean_error(r, "--prompts", "projector")
    r = inv(main, ["transfer", "eval", "--prompts", bert_prompts["sst2"], "--tasks", "sst2,bogus",
                   "--output-dir", str(tmp_path / "m")])
    assert_clean_error(r, "bogus")
