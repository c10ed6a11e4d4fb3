"""`ptt plan` from a local config file (no weights)."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from ptt.cli import main
from ptt.errors import PttError
from ptt.commands.plan import plan
from ptt.config import PlanConfig

XXL = str(Path(__file__).parents[1] / "fixtures" / "configs" / "t5-v1_1-xxl")


def test_t5_v1_1_xxl_has_about_eleven_billion_parameters():
    p = plan(PlanConfig(backbone=XXL, gpus_per_node=8, nodes=1, zero=3, batch_size=32, seq_len=128))
    assert 10.5e9 < p["parameters"] < 11.5e9
    assert p["family"] == "seq2seq"
    # bf16 weights split over 8 GPUs: ~22 GB / 8
    assert p["per_gpu_gib"]["frozen_weights"] == pytest.approx(p["parameters"] * 2 / 8 / 1024**3)
    assert p["fits"]


def test_more_nodes_shard_the_weights_further_and_zero2_does_not():
    one = plan(PlanConfig(backbone=XXL, nodes=1, gpus_per_node=8, batch_size=32))
    two = plan(PlanConfig(backbone=XXL, nodes=2, gpus_per_node=8, batch_size=32))
    z2 = plan(PlanConfig(backbone=XXL, nodes=1, gpus_per_node=8, zero=2, batch_size=32, gpu_memory_gib=16))
    assert two["per_gpu_gib"]["frozen_weights"] == pytest.approx(one["per_gpu_gib"]["frozen_weights"] / 2)
    assert z2["per_gpu_gib"]["frozen_weights"] == pytest.approx(one["per_gpu_gib"]["frozen_weights"] * 8)
    assert not z2["fits"]  # 22 GB of bf16 weights on every GPU cannot fit 16 GiB
    off = plan(PlanConfig(backbone=XXL, offload=True))
    assert off["per_gpu_gib"]["frozen_weights"] == 0


def test_plan_cli_and_bad_input():
    r = CliRunner().invoke(main, ["plan", "--backbone", XXL, "--nodes", "2"])
    assert r.exit_code == 0 and "parameters" in r.output and "GPUs                16" in r.output
    with pytest.raises(PttError, match="--zero 1"):
        PlanConfig(backbone=XXL, zero=1)
    with pytest.raises(PttError, match="--batch-size 30: not divisible by 8"):
        PlanConfig(backbone=XXL, batch_size=30)
