"""ds_config resolution and prompt artifacts."""

import json

import pytest
import torch

from ptt.config import TrainConfig
from ptt.errors import PttError
from ptt.runtime.artifacts import META_FILE, TENSOR_FILE, load_prompt, save_prompt
from ptt.runtime.deepspeed import find_ds_config, load_ds_config, resolve_ds_config, resolve_precision


@pytest.mark.parametrize("name", ["zero3_bf16", "zero2_bf16", "zero3_offload"])
def test_shipped_ds_configs_resolve(name):
    ds = resolve_ds_config(load_ds_config(name), **TrainConfig(batch_size=16, micro_batch_size=4).ds_batch(2),
                           precision="bf16")
    assert ds["train_batch_size"] == 16
    assert ds["train_micro_batch_size_per_gpu"] == 4
    assert ds["gradient_accumulation_steps"] == 2
    assert ds["gradient_clipping"] == 1.0
    assert ds["bf16"]["enabled"] is True
    assert "auto" not in json.dumps(ds)


def test_explicit_value_that_disagrees_is_an_error():
    ds = {"train_batch_size": 32, "zero_optimization": {"stage": 3}}
    with pytest.raises(PttError, match='"train_batch_size" is 32 but --batch-size gives 16'):
        resolve_ds_config(ds, **TrainConfig(batch_size=16).ds_batch(1), precision="fp32")
    agree = resolve_ds_config({"train_batch_size": 16}, **TrainConfig(batch_size=16).ds_batch(1), precision="fp32")
    assert agree["train_batch_size"] == 16


@pytest.mark.parametrize("ds,match", [
    ({"optimizer": {"type": "Adam"}}, '"optimizer" section'),
    ({"scheduler": {"type": "WarmupLR"}}, '"scheduler" section'),
    ({"fp16": {"enabled": True}}, "fp16 is not supported"),
    ({"bf16": {"enabled": True}}, '"bf16.enabled" is True but --precision gives False'),
])
def test_ds_config_refusals(ds, match):
    with pytest.raises(PttError, match=match):
        resolve_ds_config(ds, **TrainConfig().ds_batch(1), precision="fp32")


def test_precision_resolution():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert resolve_precision(TrainConfig().precision, {"bf16": {"enabled": "auto"}}, cpu) == "fp32"
    assert resolve_precision(TrainConfig().precision, {"bf16": {"enabled": "auto"}}, cuda) == "bf16"
    assert resolve_precision(TrainConfig().precision, {"bf16": {"enabled": True}}, cpu) == "bf16"
    assert resolve_precision(TrainConfig(precision="fp32").precision, {}, cuda) == "fp32"


def test_ds_config_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PttError, match="not valid JSON"):
        load_ds_config(str(bad))
    with pytest.raises(PttError, match="--ds-config nope"):
        find_ds_config("nope")


def test_prompt_artifact_round_trip_and_checksum(tmp_path):
    prompt = torch.randn(5, 8)
    save_prompt(tmp_path / "p", prompt, {"task": "sst2"})
    loaded, meta = load_prompt(tmp_path / "p")
    assert torch.equal(loaded, prompt)
    assert meta["length"] == 5 and meta["hidden_size"] == 8 and meta["task"] == "sst2"
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == sorted([TENSOR_FILE, META_FILE])  # no temp files left
    meta["sha256"] = "0" * 64
    (tmp_path / "p" / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(PttError, match="checksum mismatch"):
        load_prompt(tmp_path / "p")


def test_truncated_or_missing_artifact(tmp_path):
    save_prompt(tmp_path / "p", torch.randn(4, 4), {})
    data = (tmp_path / "p" / TENSOR_FILE).read_bytes()
    (tmp_path / "p" / TENSOR_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(PttError, match="unreadable or truncated"):
        load_prompt(tmp_path / "p")
    with pytest.raises(PttError, match="no prompt artifact"):
        load_prompt(tmp_path / "nothing", flag="--init-from")
