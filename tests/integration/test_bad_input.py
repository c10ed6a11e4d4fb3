"""Bad input: a one-line error naming the flag and value, exit code 2, no traceback."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.helpers import run_ptt, invoke, assert_clean_error

SMALL = ["--prompt-length", "4", "--max-length", "24", "--max-steps", "2", "--eval-every", "1", "--batch-size", "4",
         "--max-train-examples", "16", "--max-eval-examples", "8"]


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
    (run / "config.json").write_text('{"train": {}}')
    r = invoke("train", "--backbone", tiny_models["bert"], *SMALL, "--output-dir", str(run))
    assert_clean_error(r, "--output-dir", "--resume", "--overwrite")
    assert (run / "config.json").read_text() == '{"train": {}}'  # nothing of the old run is touched


@pytest.mark.parametrize("flag", ["--overwrite", "--resume"])
def test_output_folder_that_is_a_model_is_never_replaced(tiny_models, tmp_path, flag):
    """A model folder (its config.json is no run's) given as --output-dir: refused even with --overwrite."""
    model = tmp_path / "model"
    shutil.copytree(tiny_models["bert"], model)
    held = {p.name: p.read_bytes() for p in model.iterdir()}
    r = invoke("train", "--backbone", tiny_models["bert"], *SMALL, "--output-dir", str(model), flag)
    assert_clean_error(r, f"--output-dir {model}", "not a ptt run's", "choose another --output-dir")
    assert {p.name: p.read_bytes() for p in model.iterdir()} == held


@pytest.mark.parametrize("args,needles", [
    (["train", "--init", "zeros"], ["--init zeros"]),
    (["train", "--max-steps", "10", "--eval-every", "20"], ["--eval-every 20"]),
    (["train", "--family", "decoder"], ["--family decoder"]),
    (["eval", "--prompt", "/no/such/prompt"], ["--prompt", "/no/such/prompt"]),
    (["train", "--on-nonfinite", "ignore"], ["--on-nonfinite ignore"]),
    (["train", "--batch-order", "sorted"], ["--batch-order sorted", "grouped, random"]),
    (["train", "--on-nonfinite", "skip", "--batch-size", "8", "--micro-batch-size", "4"], ["--on-nonfinite skip"]),
])
def test_flag_values_refused_before_any_work(args, needles):
    assert_clean_error(invoke(*args), *needles)


# ---- the data files -------------------------------------------------------------------------------------


def _train_with(tiny_models, tmp_path, *extra):
    out = [] if "--output-dir" in extra else ["--output-dir", str(tmp_path / "run")]
    return invoke("train", "--backbone", tiny_models["bert"], *SMALL, *out, *extra)


def test_malformed_jsonl_line_names_file_and_line(tiny_models, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "good", "label": "positive"}\n{"text": "broken", "label": \n')
    assert_clean_error(_train_with(tiny_models, tmp_path, "--train-file", str(bad)), "bad.jsonl", "line 2")


def test_missing_text_field(tiny_models, tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("sentence,label\nfine,positive\n")
    assert_clean_error(_train_with(tiny_models, tmp_path, "--train-file", str(f), "--text-field", "text"), "text")


def test_missing_label_field(tiny_models, tmp_path):
    f = tmp_path / "t.csv"
    f.write_text("text,gold\nfine,positive\n")
    assert_clean_error(_train_with(tiny_models, tmp_path, "--train-file", str(f), "--text-field", "text"), "label")


def test_file_that_is_not_utf8(tiny_models, tmp_path):
    f = tmp_path / "latin1.csv"
    f.write_bytes("text,label\ncaf\xe9 cr\xe8me,positive\n".encode("latin-1"))
    assert_clean_error(_train_with(tiny_models, tmp_path, "--train-file", str(f), "--text-field", "text"),
                       "latin1.csv", "UTF-8")


def test_empty_eval_split(tiny_models, tmp_path):
    f = tmp_path / "empty.jsonl"
    f.write_text("")
    assert_clean_error(_train_with(tiny_models, tmp_path, "--eval-file", str(f)), "empty.jsonl")


# ---- models and artifacts -------------------------------------------------------------------------------


def test_nonexistent_backbone_path(tmp_path):
    r = invoke("train", "--backbone", str(tmp_path / "no-model"), *SMALL, "--output-dir", str(tmp_path / "run"))
    assert_clean_error(r, "--backbone", "no-model")


@pytest.fixture(scope="module")
def t5_prompt(tiny_models, tmp_path_factory):
    out = tmp_path_factory.mktemp("t5prompt") / "run"
    r = invoke("train", "--backbone", tiny_models["t5"], *SMALL, "--output-dir", str(out))
    assert r.exit_code == 0, r.output
    return out / "best"


def copy_artifact(src, dst, truncate_tensor_by: int = 0):
    """A copy of a prompt artifact, its safetensors file optionally cut short."""
    dst.mkdir()
    for f in src.iterdir():
        data = f.read_bytes()
        cut = truncate_tensor_by if f.suffix == ".safetensors" else 0
        (dst / f.name).write_bytes(data[: len(data) - cut])
    return dst


def test_prompt_artifact_with_a_wrong_checksum(t5_prompt, tmp_path):
    copy = copy_artifact(t5_prompt, tmp_path / "p")
    meta = json.loads((copy / "prompt.json").read_text())
    meta["sha256"] = "f" * 64
    (copy / "prompt.json").write_text(json.dumps(meta))
    assert_clean_error(invoke("eval", "--prompt", str(copy)), "--prompt", "checksum")


def test_truncated_safetensors(t5_prompt, tmp_path):
    copy = copy_artifact(t5_prompt, tmp_path / "p", truncate_tensor_by=40)
    assert_clean_error(invoke("eval", "--prompt", str(copy)), "--prompt", "truncated")


# ---- DeepSpeed config and batch arithmetic --------------------------------------------------------------


def test_ds_config_not_valid_json(tiny_models, tmp_path):
    ds = tmp_path / "ds.json"
    ds.write_text('{"zero_optimization": {"stage": 3},}')
    assert_clean_error(_train_with(tiny_models, tmp_path, "--ds-config", str(ds)), "--ds-config", "not valid JSON")


def test_ds_config_unknown_key(tiny_models, tmp_path):
    ds = tmp_path / "ds.json"
    ds.write_text(json.dumps({"zero_optimisation": {"stage": 3}}))
    assert_clean_error(_train_with(tiny_models, tmp_path, "--ds-config", str(ds)), "zero_optimisation",
                       "zero_optimization")


def test_batch_size_that_does_not_divide_across_ranks(tiny_models, tmp_path):
    # WORLD_SIZE as a launcher sets it: the batch plan is checked before any process group is formed
    proc = run_ptt("train", "--backbone", tiny_models["bert"], *SMALL, "--batch-size", "5", "--output-dir",
                   str(tmp_path / "run"), env={"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"})
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--batch-size 5: not divisible by the 2 ranks" in proc.stderr.strip().splitlines()[-1]


def test_read_only_output_folder(tiny_models, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)],
                             capture_output=True).returncode == 0
    target = ro if mounted else Path("/proc/sys")  # procfs refuses writes even to root
    try:
        r = _train_with(tiny_models, tmp_path, "--output-dir", str(target / "run"))
        assert_clean_error(r, "--output-dir", "not writable")
    finally:
        if mounted:
            subprocess.run(["umount", str(ro)], check=True)


def test_plan_bad_input():
    assert_clean_error(invoke("plan", "--backbone", "/no/such/model"), "--backbone", "/no/such/model")
    assert_clean_error(invoke("plan", "--backbone", "minilm", "--zero", "1"), "--zero 1")
