"""Two "nodes" on one machine: two launchers with --no_ssh (node ranks 0 and 1, one CPU rank each) must
train the same prompt as one node with two ranks (CPU, fp32, ZeRO-3)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import torch

from ptt.runtime.artifacts import load_prompt
from tests.helpers import REPO, clean_env, deepspeed_launcher, free_port


def ptt_args(backbone: str, out: Path) -> list[str]:
    return ["train", "--backbone", backbone, "--task", "sst2", "--precision", "fp32", "--ds-config", "zero3_bf16",
            "--prompt-length", "4", "--max-length", "24", "--max-steps", "4", "--eval-every", "2", "--batch-size", "4",
            "--lr", "0.1", "--max-train-examples", "64", "--max-eval-examples", "16", "--output-dir", str(out)]


def test_two_nodes_on_one_machine_match_one_node_with_two_ranks(tiny_models, tmp_path):
    launcher = deepspeed_launcher()
    # launch/per_node.sh runs `deepspeed` from PATH: put the same launcher first there
    env = clean_env(PYTHONPATH=str(REPO), PATH=str(Path(launcher).parent) + os.pathsep + os.environ.get("PATH", ""))
    one = subprocess.run([launcher, "--num_gpus", "2", "--master_port", str(free_port()),
                          str(REPO / "launch" / "ptt_main.py"), *ptt_args(tiny_models["t5"], tmp_path / "one")],
                         capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]

    hostfile = tmp_path / "hostfile"
    hostfile.write_text("node-a slots=1\nnode-b slots=1\n")
    port = str(free_port())
    nodes = [subprocess.Popen([str(REPO / "launch" / "per_node.sh"), "--hostfile", str(hostfile), "--node-rank",
                               str(rank), "--master-addr", "127.0.0.1", "--port", port,
                               *ptt_args(tiny_models["t5"], tmp_path / "two")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
             for rank in (0, 1)]
    outputs = [p.communicate(timeout=900)[0] for p in nodes]
    assert [p.returncode for p in nodes] == [0, 0], outputs[0][-2000:] + outputs[1][-2000:]

    a, _ = load_prompt(tmp_path / "one" / "last")
    b, meta = load_prompt(tmp_path / "two" / "last")
    assert meta["step"] == 4
    assert torch.equal(a, b)


@pytest.mark.parametrize("script,args,needle", [
    ("per_node.sh", ["--hostfile", "/no/such", "--node-rank", "0", "--master-addr", "h", "train"], "--hostfile"),
    ("multi_node.sh", ["--hostfile", "/no/such", "train"], "--hostfile"),
    ("single_node.sh", ["--gpus", "two", "train"], "--gpus two"),
    ("single_node.sh", [], "no ptt command"),
])
def test_launch_scripts_check_their_inputs(script, args, needle):
    proc = subprocess.run([str(REPO / "launch" / script), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and needle in proc.stderr, proc.stderr


def test_per_node_refuses_a_rank_outside_the_hostfile(tmp_path):
    hostfile = tmp_path / "hosts"
    hostfile.write_text("a slots=1\nb slots=1\n")
    proc = subprocess.run([str(REPO / "launch" / "per_node.sh"), "--hostfile", str(hostfile), "--node-rank", "2",
                           "--master-addr", "a", "train"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--node-rank '2': must be 0..1" in proc.stderr
