"""The typed artifact: plain prompts and mixtures read through one reader, described and checked by one check;
one prompt.json builder."""

from __future__ import annotations

import json

import pytest
import torch

from ptt.runtime.artifacts import PROMPT_FORMAT, load_prompt, prompt_meta, save_prompt
from ptt.transfer.sources.artifact import Mismatch, read_artifact
from ptt.transfer.sources.gather import gather, row_labels
from ptt.transfer.sources.mixture import MixturePrompt, save_mixture
from tests.helpers import raises_ptt


def meta(backbone="some/model", task="sst2", **kw):
    return prompt_meta(backbone=backbone, backbone_path=None, family="masked_lm", task=task, step=3,
                       metrics={"accuracy": 0.5}, init=None, max_length=24, model_type="bert", **kw)


def plain(path, length=4, hidden=8, seed=0, **kw):
    save_prompt(path, torch.randn(length, hidden, generator=torch.Generator().manual_seed(seed)), meta(**kw))
    return str(path)


def mixture(tmp_path, length=4, hidden=8):
    sources = [plain(tmp_path / f"src{i}", length, hidden, seed=i, task=t) for i, t in enumerate(("mr", "rte"))]
    module = MixturePrompt(torch.stack([load_prompt(s)[0] for s in sources]), torch.zeros(length, hidden), rank=2)
    entries = [{"path": s, "task": load_prompt(s)[1]["task"], "sha256": load_prompt(s)[1]["sha256"]} for s in sources]
    save_mixture(tmp_path / "mix", module.state_dict(), entries, meta(task="laptop"))
    return str(tmp_path / "mix")


def test_prompt_meta_names_every_field_and_the_format(tmp_path):
    m = meta(seed=7)
    assert m["format"] == PROMPT_FORMAT and m["seed"] == 7 and m["step"] == 3
    with pytest.raises(TypeError):  # every core field is required by name
        prompt_meta(backbone="b", backbone_path=None, family=None, task=None, step=0, metrics={}, init=None,
                    max_length=8)
    saved = json.loads((save_prompt(tmp_path / "p", torch.ones(2, 3), m) / "prompt.json").read_text())
    assert saved == {**m, "length": 2, "hidden_size": 3, "sha256": saved["sha256"]}


def test_both_kinds_read_through_one_reader(tmp_path):
    p, x = read_artifact(plain(tmp_path / "p", length=5, hidden=8)), read_artifact(mixture(tmp_path, 4, 8))
    assert (p.kind, p.length, p.hidden, p.task, p.label) == ("prompt", 5, 8, "sst2", "sst2")
    assert p.module is None and tuple(p.tensor.shape) == (5, 8)
    assert (x.kind, x.length, x.hidden, x.label) == ("mixture", 4, 8, "laptop(mixture)")
    assert x.tensor is None and isinstance(x.module, MixturePrompt) and x.module.sources.shape == (2, 4, 8)
    assert p.describe()["kind"] == "prompt" and x.describe()["length"] == 4
    message = raises_ptt(read_artifact, x.path, "--prompts", mixtures=False, needles=("--prompts", "flatten"))
    assert x.path in message


def test_one_check_says_why_an_artifact_does_not_fit(tmp_path):
    a = read_artifact(plain(tmp_path / "a", length=4, hidden=8))
    assert a.mismatch("some/model", 4, 8) is None and a.mismatch("some/model") is None
    assert a.mismatch("other/model", 4, 8) == Mismatch("backbone", "other backbone (some/model)")
    assert a.mismatch("some/model", 4, 16) == Mismatch("hidden", "hidden size 8 != 16")
    assert a.mismatch("some/model", 6, 8) == Mismatch("length", "length 4 != 6")
    assert str(a.mismatch("some/model", 6, 8)) == "length 4 != 6"
    raises_ptt(a.require_fits, "other/model", 16, "--prompt", needles=("--prompt", "hidden size 8", "projector"))
    x = read_artifact(mixture(tmp_path, 4, 8))
    raises_ptt(x.require_fits, "other/model", 16, "--prompt", needles=("a mixture of hidden size 8", "has 16"))


def test_gather_refuses_a_set_of_another_length_or_backbone(tmp_path):
    a, b = plain(tmp_path / "a", length=4), plain(tmp_path / "b", length=4, task="mr")
    assert [s.task for s in gather([a, b])] == ["sst2", "mr"]
    raises_ptt(gather, [a, plain(tmp_path / "c", length=6)], needles=("--prompts", "length 6", "one length"))
    raises_ptt(gather, [a, plain(tmp_path / "d", backbone="other/model")], needles=("other/model", "projector"))
    raises_ptt(gather, [], "--prompts", needles=("--prompts", "at least one"))
    raises_ptt(gather, [a, mixture(tmp_path)], needles=("flatten",))  # plain prompts only, unless asked
    both = gather([a, mixture(tmp_path)], mixtures=True)
    assert [s.kind for s in both] == ["prompt", "mixture"]


def test_row_labels_number_repeated_labels_only(tmp_path):
    found = gather([plain(tmp_path / "a"), plain(tmp_path / "b", seed=1), plain(tmp_path / "c", task="mr"),
                    mixture(tmp_path)], mixtures=True)
    assert row_labels(found) == ["sst2#1", "sst2#2", "mr", "laptop(mixture)"]


def test_gather_names_the_field_that_differs(tmp_path):
    from ptt.transfer.sources.gather import gather
    from tests.helpers import fake_prompt

    a = fake_prompt(tmp_path / "a", "some/model", "sst2", length=4)
    b = fake_prompt(tmp_path / "b", "some/model", "mr", length=6)
    c = fake_prompt(tmp_path / "c", "other/model", "mr", length=4, hidden=32)
    assert [x.task for x in gather([a, fake_prompt(tmp_path / "d", "some/model", "mr")])] == ["sst2", "mr"]
    raises_ptt(gather, [a, b], needles=("length 6 differs", "score prompts of one length together"))
    raises_ptt(gather, [a, c], needles=("trained on other/model (hidden 32)", "projector"))


def test_written_files_follow_the_umask_not_mkstemps_0600(tmp_path):
    """A run's files are as readable as the user's other files (a shared cluster reads results too)."""
    from ptt.runtime.artifacts import atomic_write_json, umask

    save_prompt(tmp_path / "p", torch.zeros(2, 3), meta())
    atomic_write_json(tmp_path / "r.json", {"a": 1})
    wanted = 0o666 & ~umask()
    assert wanted & 0o044  # the suite's umask lets others read; 0600 would fail every line below
    for path in (tmp_path / "p" / "prompt.json", tmp_path / "p" / "prompt.safetensors", tmp_path / "r.json"):
        assert path.stat().st_mode & 0o777 == wanted, path
