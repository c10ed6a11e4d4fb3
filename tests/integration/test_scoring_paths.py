"""Scoring apart from training, and the command paths that lead to it: the scorer builds no optimizer and keeps
a ZeRO-3 backbone partitioned; transfer-matrix and ranking cells equal `ptt eval` of the same prompt; prompt
options take a glob's expansion, repeated flags and folders; CLI defaults of each job."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from ptt.cli import main, spread_variadic
from ptt.commands import eval as eval_command
from ptt.commands import transfer_eval
from ptt.config import EvalConfig, RankConfig, ScoreConfig, TransferEvalConfig
from ptt.core.data import default_data_dir, load_task_split
from ptt.core.tasks import get_task
from ptt.runtime.artifacts import save_prompt
from ptt.scoring import open_scorer
from ptt.transfer.sources.ranking import rank_library
from tests.helpers import assert_clean_error, fake_prompt


@pytest.fixture(scope="module")
def t5_prompts(tiny_models, tmp_path_factory):
    """Prompt artifacts of the tiny T5 for three source tasks, in a library folder; large random values,
    so that each prompt moves the predictions its own way."""
    root = tmp_path_factory.mktemp("lib")
    out = {}
    for i, task in enumerate(("mr", "rte", "qqp")):
        g = torch.Generator().manual_seed(i)
        out[task] = str(save_prompt(root / task / "best", torch.randn(4, 32, generator=g) * 4,
                                    {"backbone": tiny_models["t5"], "backbone_path": tiny_models["t5"],
                                     "family": "seq2seq", "task": task, "step": 0, "metrics": {}, "max_length": 24}))
    return out


def test_scorer_builds_no_optimizer_and_keeps_zero3_partitioned(tiny_models):
    task, prompt = get_task("sst2"), torch.randn(4, 32, generator=torch.Generator().manual_seed(0))
    results = {}
    for ds in ("zero2_bf16", "zero3_bf16"):
        scorer = open_scorer(ScoreConfig(backbone=tiny_models["t5"], ds_config=ds, precision="fp32",
                                         max_eval_examples=24), 4)
        try:
            optimizer = getattr(scorer.runner, "optimizer", None)
            assert not isinstance(optimizer, torch.optim.Optimizer)
            assert not hasattr(optimizer, "fp32_partitioned_groups_flat")  # no ZeRO optimizer state
            params = list(scorer.model.backbone.parameters())
            assert not any(p.requires_grad for p in params)
            if ds == "zero3_bf16":
                assert all(hasattr(p, "ds_id") and p.numel() == 0 for p in params)  # partitioned, never gathered
            results[ds] = scorer.evaluate(task, prompt)
        finally:
            scorer.close()
    assert results["zero2_bf16"] == results["zero3_bf16"]


def test_matrix_cells_equal_ptt_eval_of_the_same_prompt(tiny_models, t5_prompts, tmp_path):
    tasks = ["sst2", "mr", "rte"]
    common = dict(precision="fp32", max_eval_examples=24)
    result = transfer_eval.run(TransferEvalConfig(prompts=tuple(t5_prompts.values()), tasks=",".join(tasks),
                                                  output_dir=str(tmp_path / "m"), **common))
    for row, path in zip(result["rows"], t5_prompts.values()):
        for j, task in enumerate(tasks):
            alone = eval_command.run(EvalConfig(prompt=path, task=task, **common))
            assert result["all_metrics"][row][task] == {k: v for k, v in alone.items() if k not in ("task", "prompt")}
            assert result["values"][result["rows"].index(row)][j] == alone["accuracy"]
    sources = result["values"][:len(t5_prompts)]
    assert len({tuple(v) for v in sources}) == len(sources)  # every row tells its prompt apart


def test_ranking_scores_equal_ptt_eval_on_the_same_rows(tiny_models, t5_prompts, tmp_path):
    rows = load_task_split(get_task("sst2"), "train", default_data_dir()).select(range(40))
    data = tmp_path / "sample.jsonl"
    data.write_text("".join(json.dumps({"text": r["text_a"], "label": r["label"]}) + "\n" for r in rows))
    library = str(next(iter(t5_prompts.values()))).rsplit("/", 2)[0]
    cfg = RankConfig(task="sst2", backbone=tiny_models["t5"], library=library, sample=256, train_file=str(data),
                     precision="fp32", max_length=24)  # a sample larger than the file: every row is scored
    ranking = rank_library(cfg.library, cfg, sample=cfg.sample)
    assert sorted(r["path"] for r in ranking["ranking"]) == sorted(t5_prompts.values())
    assert len({e["metrics"]["accuracy"] for e in ranking["ranking"]}) > 1  # the prompts score differently
    for entry in ranking["ranking"]:
        alone = eval_command.run(EvalConfig(prompt=entry["path"], task="sst2", eval_file=str(data), precision="fp32"))
        for metric in ("accuracy", "balanced_accuracy", "macro_f1", "top_prediction_share"):
            assert entry["metrics"][metric] == alone[metric], (entry["path"], metric)


def test_variadic_prompt_options_spread_a_globs_expansion():
    cmd = main.commands["transfer"].commands["eval"]
    args = ["--prompts", "a", "b", "c", "--tasks", "sst2", "--prompts", "d", "--no-random", "--local_rank=0"]
    assert spread_variadic(args, cmd.params) == ["--prompts", "a", "--prompts", "b", "--prompts", "c", "--tasks",
                                                 "sst2", "--prompts", "d", "--no-random", "--local_rank=0"]
    assert spread_variadic(["--prompts", "--tasks", "x"], cmd.params) == ["--prompts", "--tasks", "x"]


def test_transfer_eval_takes_a_glob_repeated_flags_and_a_folder_alike(tiny_models, t5_prompts, tmp_path):
    paths = list(t5_prompts.values())
    library = paths[0].rsplit("/", 2)[0]
    forms = {"glob": ["--prompts", *paths], "repeated": [x for p in paths for x in ("--prompts", p)],
             "folder": ["--prompts", library]}
    seen = {}
    for name, form in forms.items():
        out = tmp_path / name
        r = CliRunner().invoke(main, ["transfer", "eval", *form, "--tasks", "sst2", "--output-dir", str(out),
                                      "--precision", "fp32", "--max-eval-examples", "16", "--no-random"])
        assert r.exit_code == 0, r.output
        matrix = json.loads((out / "matrix.json").read_text())
        seen[name] = (sorted(s["path"] for s in matrix["sources"]), sorted(map(tuple, matrix["values"])))
    assert seen["glob"] == seen["repeated"] == seen["folder"]
    assert len(seen["glob"][0]) == 3


def test_compare_requires_task(t5_prompts):
    r = CliRunner().invoke(main, ["transfer", "compare", "--source", t5_prompts["mr"], "--output-dir", "x"])
    assert r.exit_code == 2 and "--task" in r.output and "Traceback" not in r.output


def test_a_prompt_folder_with_no_artifact_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(main, ["transfer", "eval", "--prompts", str(tmp_path / "empty"), "--tasks", "sst2",
                                  "--output-dir", str(tmp_path / "o")])
    assert_clean_error(r, "--prompts", str(tmp_path / "empty"), "no prompt artifact")


@pytest.mark.parametrize("objective,lr,steps", [("distance", 1e-3, 1000), ("task", 5e-3, 150)])
def test_project_fit_cli_defaults_fit_each_objective(tiny_models, tmp_path, objective, lr, steps):
    src = fake_prompt(tmp_path / "src", tiny_models["bert_mlm"], "sst2")
    tgt = fake_prompt(tmp_path / "tgt", tiny_models["t5"], "sst2", hidden=32, family="seq2seq")
    extra = ["--target-prompts", tgt] if objective == "distance" else \
        ["--max-train-examples", "32", "--max-eval-examples", "8", "--precision", "fp32", "--max-length", "24"]
    out = tmp_path / "proj"
    r = CliRunner().invoke(main, ["transfer", "project", "fit", "--source-backbone", tiny_models["bert_mlm"],
                                  "--target-backbone", tiny_models["t5"], "--objective", objective,
                                  "--source-prompts", src, "--projector-hidden", "16", "--output-dir", str(out),
                                  *extra])
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "projector.json").read_text())
    assert (meta["lr"], meta["steps"]) == (lr, steps)
    if objective == "distance":
        assert meta["metrics"]["final_distance_loss"] < 0.3  # 1000 small steps fit one pair closely
    else:
        assert [row["step"] for row in meta["history"]] == [50, 100, 150]
