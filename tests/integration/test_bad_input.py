"""Bad input: a one-line error naming the flag and value, exit code 2, no traceback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ptt.cli import main
from tests.conftest import run_ptt

SMALL = ["--prompt-length", "4", "--max-length", "24", "--max-steps", "2", "--eval-every", "1", "--batch-size", "4",
         "--max-train-examples", "16", "--max-eval-examples", "8"]


def assert_clean_error(result, *needles: str) -> None:
    lines = [ln for ln in result.output.splitlines() if ln.strip() and "[WARNING]" not in ln]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert lines and lines[-1].startswith("Error: "), result.output
    for needle in needles:
        assert needle in lines[-1], (needle, lines[-1])


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_unknown_task_in_a_real_process():
    proc = run_ptt("train", "--task", "sst3")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--task" in lines[0] and "sst3" in lines[0], proc.stderr


def test_missing_data_file(tiny_models, tmp_path):
    r = invoke("train", "--backbone", tiny_models["bert"], *SMALL, "--train-file", str(tmp_path / "nope.csv"),
               "--output-dir", str(tmp_path / "run"))
    assert_clean_error(r, "--train-file", "nope.csv")


def test_empty_data_file(tiny_models, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    r = invoke("train", "--backbone", tiny_models["bert"], *SMALL, "--train-file", str(empty),
               "--output-dir", str(tmp_path / "run"))
    assert_clean_error(r, "empty.csv")


def test_label_outside_the_task(tiny_models, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "fine film", "label": "positive"}) + "\n" +
                   json.dumps({"text": "odd film", "label": "maybe"}) + "\n")
    r = invoke("train", "--backbone", tiny_models["bert"], *SMALL, "--train-file", str(bad),
               "--output-dir", str(tmp_path / "run"))
    assert_clean_error(r, "maybe", "bad.jsonl")


def test_prompt_longer_than_the_positions(tiny_models, tmp_path):
    args = [a if a != "4" else "500" for a in SMALL[:2]] + SMALL[2:]
    r = invoke("train", "--backbone", tiny_models["roberta"], *args, "--output-dir", str(tmp_path / "run"))
    assert_clean_error(r, "--prompt-length 500", "512")


def test_prompt_of_another_hidden_size(tiny_models, tmp_path):
    r = invoke("train", "--backbone", tiny_models["t5"], *SMALL, "--output-dir", str(tmp_path / "t5run"))
    assert r.exit_code == 0, r.output
    prompt = str(tmp_path / "t5run" / "best")
    r = invoke("eval", "--prompt", prompt, "--backbone", tiny_models["bert"])
    assert_clean_error(r, "--prompt", "hidden size 32", "48")
    r = invoke("train", "--backbone", tiny_models["bert"], *SMALL, "--init-from", prompt,
               "--output-dir", str(tmp_path / "bertrun"))
    assert_clean_error(r, "--init-from", "hidden size 32", "48")


def test_ds_config_that_disagrees_with_the_flags(tiny_models, tmp_path):
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"train_batch_size": 32, "zero_optimization": {"stage": 3}}))
    r = invoke("train", "--backbone", tiny_models["bert"], *SMALL, "--ds-config", str(ds),
               "--output-dir", str(tmp_path / "run"))
    assert_clean_error(r, "train_batch_size", "32", "--batch-size")


def test_output_folder_holding_another_run(tiny_models, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    r = invoke("train", "--backbone", tiny_models["bert"], *SMALL, "--output-dir", str(run))
    assert_clean_error(r, "--output-dir", "--resume", "--overwrite")
    assert (run / "config.json").read_text() == "{}"  # nothing of the old run is touched


@pytest.mark.parametrize("args,needles", [
    (["train", "--init", "zeros"], ["--init zeros"]),
    (["train", "--max-steps", "10", "--eval-every", "20"], ["--eval-every 20"]),
    (["train", "--family", "decoder"], ["--family decoder"]),
    (["eval", "--prompt", "/no/such/prompt"], ["--prompt", "/no/such/prompt"]),
])
def test_flag_values_refused_before_any_work(args, needles):
    assert_clean_error(invoke(*args), *needles)
