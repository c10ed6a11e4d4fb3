"""The attention mixture (ATTEMPT): frozen library prompts + a new prompt + an attention module over the input,
trained like `ptt train` (ZeRO-3, resume, two ranks), saved as its own artifact, scored by `ptt eval` and
`ptt transfer eval`, and exported to one plain prompt."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from ptt.cli import main
from ptt.commands import compare
from ptt.recipe import train as train_command
from ptt.recipe.start import mixture_module
from ptt.config import CompareConfig, ScoreConfig, TrainConfig
from ptt.core.encode import collate
from ptt.core.tasks import get_task
from ptt.runtime.artifacts import artifact_paths, load_prompt
from ptt.scoring import open_scorer
from ptt.training import build_trainer, plan_trainer
from ptt.transfer.sources.mixture import MIXTURE_FILE, MixturePrompt, load_mixture
from tests.helpers import (REPO, clean_env, deepspeed_launcher, free_port, assert_clean_error, tiny_cfg,
                           backbone_snapshot, fake_prompt, fields_of)


@pytest.fixture(scope="module")
def library(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("mix-library")
    for i, task in enumerate(("sst2", "mr", "rte")):
        fake_prompt(root / task, tiny_models["t5"], task, hidden=32, seed=i, family="seq2seq")
    return root


def mix_cfg(tiny_models, library, out, **kw) -> TrainConfig:
    return tiny_cfg(tiny_models["t5"], out, task="laptop", mixture=str(library), **kw)


def test_attention_weights_are_a_distribution_per_input():
    g = torch.Generator().manual_seed(0)
    module = MixturePrompt(torch.randn(3, 4, 8, generator=g), torch.randn(4, 8, generator=g), rank=4)
    embeds = torch.randn(5, 6, 8, generator=g)
    mask = torch.ones(5, 6, dtype=torch.long)
    mask[0, 3:] = 0
    a = module.weights(embeds, mask)
    assert a.shape == (5, 4) and bool((a >= 0).all())
    assert torch.allclose(a.sum(-1), torch.ones(5), atol=1e-6)
    assert not torch.allclose(a[1], a[2])  # the mixture depends on the input
    padded = embeds.clone()
    padded[0, 3:] = 100.0  # what sits in pad positions cannot move the weights
    assert torch.allclose(module.weights(padded, mask)[0], a[0])
    prompts = module(embeds, mask)
    stack = torch.cat([module.sources, module.target.unsqueeze(0)])
    assert torch.allclose(prompts[2], module.target + (a[2][:, None, None] * stack).sum(0), atol=1e-6)


def test_a_step_changes_only_the_new_prompt_and_the_attention_module(tiny_models, library, tmp_path):
    cfg = mix_cfg(tiny_models, library, tmp_path / "run")  # ZeRO-3 (tiny_cfg), fp32
    plan = plan_trainer(cfg)
    trainer = build_trainer(cfg, mixture_module(cfg, plan, tmp_path / "run"), plan=plan)
    try:
        model = trainer.scorer.model
        mixture = model.prompt
        names = sorted(n for n, p in mixture.named_parameters() if p.requires_grad)
        assert names == ["down.weight", "norm.bias", "norm.weight", "target", "up.weight"]
        trainable = [p for p in model.parameters() if p.requires_grad]
        assert len(trainable) == len(names)  # nothing of the backbone reaches the optimizer
        sources = mixture.sources.clone()
        assert torch.equal(sources, torch.stack([load_prompt(library / t)[0] for t in ("mr", "rte", "sst2")]))
        before = trainer.trainable_state()
        backbone = backbone_snapshot(model)
        trainer.step(0)
        after = trainer.trainable_state()
        assert all(not torch.equal(before[n], after[n]) for n in ("target", "down.weight", "up.weight"))
        assert torch.equal(mixture.sources, sources)  # the sources stay bit-identical
        for name, value in backbone_snapshot(model).items():
            assert torch.equal(value, backbone[name]), name
    finally:
        trainer.close()


@pytest.fixture(scope="module")
def mix_run(tiny_models, library, tmp_path_factory):
    out = tmp_path_factory.mktemp("mix-run") / "run"
    train_command.run(mix_cfg(tiny_models, library, out, max_steps=4, eval_every=2, ds_config="zero2_bf16"))
    return out


def test_mixture_artifact_round_trips_through_ptt_eval_and_transfer_eval(mix_run, library, tiny_models, tmp_path):
    config = json.loads((mix_run / "config.json").read_text())
    assert config["init"]["init"] == "mixture" and [s["task"] for s in config["init"]["sources"]] == ["mr", "rte",
                                                                                                       "sst2"]
    summary = json.loads((mix_run / "summary.json").read_text())
    meta = json.loads((mix_run / "best" / "mixture.json").read_text())
    assert meta["format"] == "ptt-mixture-v1" and meta["step"] == summary["best_step"]
    assert all(Path(s["path"]).is_absolute() for s in meta["sources"])  # usable from any working directory
    assert artifact_paths([str(mix_run)], "--prompts") == [str(mix_run / "best"), str(mix_run / "last")]
    r = CliRunner().invoke(main, ["eval", "--prompt", str(mix_run / "best"), "--max-eval-examples", "16",
                                  "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    scored = json.loads(r.output.strip().splitlines()[-1])
    assert scored["task"] == "laptop" and scored["accuracy"] == pytest.approx(summary["best_accuracy"])
    assert_clean_error(CliRunner().invoke(main, ["eval", "--prompt", str(mix_run / "best"), "--backbone",
                                                 tiny_models["bert"]]), "a mixture of hidden size 32", "has 48")
    r = CliRunner().invoke(main, ["transfer", "eval", "--prompts", str(library / "sst2"), str(library / "mr"),
                                  str(mix_run / "best"), "--tasks", "laptop", "--max-eval-examples", "16",
                                  "--precision", "fp32", "--output-dir", str(tmp_path / "m")])
    assert r.exit_code == 0, r.output
    matrix = json.loads((tmp_path / "m" / "matrix.json").read_text())
    assert matrix["rows"] == ["sst2", "mr", "laptop(mixture)", "random"]
    assert matrix["values"][2][0] == pytest.approx(summary["best_accuracy"])
    for i, task in enumerate(("sst2", "mr")):  # plain prompts scored together equal each one scored alone
        r = CliRunner().invoke(main, ["eval", "--prompt", str(library / task), "--task", "laptop",
                                      "--max-eval-examples", "16", "--precision", "fp32"])
        assert r.exit_code == 0, r.output
        assert matrix["all_metrics"][task]["laptop"] == {k: v for k, v in json.loads(
            r.output.strip().splitlines()[-1]).items() if k not in ("task", "prompt")}


def test_a_changed_or_missing_source_is_refused(mix_run, library, tmp_path):
    import shutil

    lib = tmp_path / "lib"
    shutil.copytree(library, lib)
    run = tmp_path / "run"
    shutil.copytree(mix_run, run)
    meta_path = run / "best" / "mixture.json"
    meta = json.loads(meta_path.read_text())
    for s in meta["sources"]:
        s["path"] = str(lib / s["task"])
    meta_path.write_text(json.dumps(meta))
    r = CliRunner().invoke(main, ["eval", "--prompt", str(run / "best"), "--max-eval-examples", "8"])
    assert r.exit_code == 0, r.output  # the copied sources are the same prompts
    fake_prompt(lib / "rte", meta["backbone"], "rte", hidden=32, seed=99, family="seq2seq")  # retrained in place
    assert_clean_error(CliRunner().invoke(main, ["eval", "--prompt", str(run / "best")]), "rte", "changed since",
                       "sha256")
    shutil.rmtree(lib / "mr")
    assert_clean_error(CliRunner().invoke(main, ["eval", "--prompt", str(run / "best")]), "mr", "is missing")
    tensors = run / "last" / MIXTURE_FILE
    tensors.write_bytes(tensors.read_bytes()[:100])  # truncated
    assert_clean_error(CliRunner().invoke(main, ["eval", "--prompt", str(run / "last")]), "unreadable", "mixture run")
    meta["sha256"] = "0" * 64  # a json that no longer vouches for its tensors
    meta_path.write_text(json.dumps(meta))
    assert_clean_error(CliRunner().invoke(main, ["eval", "--prompt", str(run / "best")]), "checksum mismatch")


def test_plain_export_equals_the_mixture_averaged_over_the_training_inputs(mix_run, tmp_path):
    r = CliRunner().invoke(main, ["prompts", "flatten", "--mixture", str(mix_run / "best"), "--max-train-examples",
                                  "24", "--eval-batch-size", "8", "--precision", "fp32", "--output-dir",
                                  str(tmp_path / "plain")])
    assert r.exit_code == 0, r.output
    plain, meta = load_prompt(tmp_path / "plain")
    again = CliRunner().invoke(main, ["prompts", "flatten", "--mixture", str(mix_run / "best"), "--output-dir",
                                      str(tmp_path / "plain")])
    assert_clean_error(again, "--output-dir", "not empty", "--overwrite")
    into_run = CliRunner().invoke(main, ["prompts", "flatten", "--mixture", str(mix_run / "best"), "--output-dir",
                                         str(mix_run), "--overwrite"])
    assert_clean_error(into_run, "a run folder")
    assert_clean_error(CliRunner().invoke(main, ["prompts", "show", str(mix_run / "best")]), "attention mixture",
                       "prompts flatten")
    plain_prompt = CliRunner().invoke(main, ["prompts", "flatten", "--mixture", str(tmp_path / "plain"),
                                             "--output-dir", str(tmp_path / "p2")])
    assert_clean_error(plain_prompt, "--mixture", "unreadable", "mixture run")
    assert meta["init"]["init"] == "mixture_mean" and meta["init"]["inputs"] == 24
    module, mmeta = load_mixture(mix_run / "best")
    cfg = ScoreConfig(backbone=mmeta["backbone"], max_length=mmeta["max_length"], max_train_examples=24,
                      precision="fp32")
    scorer = open_scorer(cfg, 4)
    try:  # by hand: one input at a time, no padding at all
        rows = scorer.rows(get_task("laptop"), "train")
        embed = scorer.model.backbone.get_input_embeddings()
        with torch.no_grad():
            each = [module(embed(b["input_ids"]), b["attention_mask"])[0]
                    for b in (collate([row], scorer.tokenizer.pad_token_id) for row in rows)]
    finally:
        scorer.close()
    assert len(each) == 24
    assert torch.allclose(plain, torch.stack(each).mean(0), atol=1e-5)


def test_resume_of_a_mixture_run_equals_the_uninterrupted_run(tiny_models, library, tmp_path):
    kw = dict(warmup_steps=3, lr=0.3, ds_config="zero2_bf16", eval_every=2)
    train_command.run(mix_cfg(tiny_models, library, tmp_path / "full", max_steps=4, **kw))
    part = mix_cfg(tiny_models, library, tmp_path / "part", max_steps=2, **kw)
    train_command.run(part)
    train_command.run(replace(part, max_steps=4, resume=True))
    full = load_file(str(tmp_path / "full" / "last" / MIXTURE_FILE))
    resumed = load_file(str(tmp_path / "part" / "last" / MIXTURE_FILE))
    assert set(full) == set(resumed) and all(torch.equal(full[k], resumed[k]) for k in full)
    lines = lambda d: (d / "metrics.jsonl").read_text().splitlines()  # noqa: E731
    assert lines(tmp_path / "full") == lines(tmp_path / "part")


def test_two_rank_zero3_mixture_through_the_launcher(tiny_models, library, tmp_path):
    out = tmp_path / "run"
    cmd = [deepspeed_launcher(), "--num_gpus", "2", "--master_port", str(free_port()),
           str(REPO / "launch" / "ptt_main.py"), "train", "--backbone", tiny_models["t5"], "--task", "laptop",
           "--mixture", str(library), "--precision", "fp32", "--ds-config", "zero3_bf16", "--prompt-length", "4",
           "--max-length", "24", "--max-steps", "4", "--eval-every", "2", "--batch-size", "4",
           "--max-train-examples", "32", "--max-eval-examples", "16", "--output-dir", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path,
                          env=clean_env(PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    config = json.loads((out / "config.json").read_text())
    assert config["world_size"] == 2 and json.loads((out / "ds_config.json").read_text())["zero_optimization"][
        "stage"] == 3
    module, meta = load_mixture(out / "last")
    assert meta["step"] == 4 and module.target.shape == (4, 32)
    one = CliRunner().invoke(main, ["eval", "--prompt", str(out / "last"), "--max-eval-examples", "16",
                                    "--precision", "fp32"])
    assert one.exit_code == 0, one.output
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert json.loads(one.output.strip().splitlines()[-1])["accuracy"] == pytest.approx(rows[-1]["accuracy"])


def test_mix_arm_and_bad_input(tiny_models, library, tmp_path):
    base = tiny_cfg(tiny_models["t5"], tmp_path / "unused", task="laptop", max_steps=2, eval_every=2)
    report = compare.run(CompareConfig(**{**fields_of(base, CompareConfig), "arms": f"random,mix:{library}",
                                          "seeds": 1, "output_dir": str(tmp_path / "cmp")}))
    mix = {a["spec"]: a for a in report["arms"]}[f"mix:{library}"]
    config = json.loads((tmp_path / "cmp" / "runs" / f"{mix['name']}-seed42" / "config.json").read_text())
    assert config["train"]["mixture"] == str(library) and config["init"]["init"] == "mixture"
    inv = lambda *a: CliRunner().invoke(main, list(a))  # noqa: E731
    common = ["train", "--backbone", tiny_models["t5"], "--task", "laptop", "--prompt-length", "4", "--max-length",
              "24", "--output-dir", str(tmp_path / "bad")]
    assert_clean_error(inv(*common, "--mixture", str(library), "--init-from", str(library / "sst2")), "--mixture",
                       "--init-from")
    other = tmp_path / "other"
    fake_prompt(other / "sst2", tiny_models["t5"], "sst2", hidden=32, family="seq2seq")
    fake_prompt(other / "mr", tiny_models["bert"], "mr", hidden=48, family="encoder")
    assert_clean_error(inv(*common, "--mixture", str(other)), "--mixture", "backbone", "move it out")
    assert not (tmp_path / "bad").exists()


def test_a_mixture_trains_and_decodes_on_a_generation_task(tiny_models, library, tmp_path):
    """Teacher-forced loss and greedy decoding both take the per-input prompt."""
    cfg = tiny_cfg(tiny_models["t5"], tmp_path / "run", task="squad", mixture=str(library), max_steps=2,
                   eval_every=2, max_eval_examples=4, max_new_tokens=4, ds_config="zero2_bf16")
    summary = train_command.run(cfg)
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2] and {"exact_match", "f1"} <= set(rows[0])
    r = CliRunner().invoke(main, ["eval", "--prompt", str(tmp_path / "run" / "last"), "--max-eval-examples", "4",
                                  "--max-new-tokens", "4", "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["f1"] == pytest.approx(rows[-1]["f1"])
    assert summary["steps"] == 2
