"""Data-free recycling across backbones (`ptt transfer recycle`, the `recycle:` arm) on tiny models.

The scoring test builds a target T5 that computes the same function as the source in another basis: every
residual-stream read is rotated by an orthogonal R and every write back (exact for T5, whose norms are RMS norms
with unit weights), its vocabulary ids are permuted (so tokens can only be matched by string) and every weight gets
5% noise. A source prompt fed to it unchanged is in the wrong basis; a recycled one is not.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModel, AutoModelForMaskedLM, AutoModelForSeq2SeqLM, AutoTokenizer

from ptt.cli import main
from ptt.commands import compare, train as train_command
from ptt.config import CompareConfig, ScoreConfig, TrainConfig
from ptt.core.tasks import get_task
from ptt.runtime.artifacts import load_prompt
from ptt.scoring import open_scorer
from ptt.transfer.cross_model.recycle import canonical_vocab, fit_linear, shared_ids
from tests.helpers import FIXTURES, assert_clean_error, fake_prompt, fields_of

DATA = str(FIXTURES / "skewed_sst2.jsonl")  # 90% positive: a signal a 4-vector prompt on a random tiny T5 learns
SCORE = dict(eval_file=DATA, text_field="text", precision="fp32", max_length=24, max_eval_examples=64)


def permuted_tokenizer(src: Path, dst: Path, generator) -> list[int]:
    """Copy src's tokenizer to dst with the ids from 1000 on shuffled; returns perm (new id i = old id perm[i])."""
    spec = json.loads((src / "tokenizer.json").read_text())
    vocab = spec["model"]["vocab"]
    n = len(vocab)
    perm = list(range(1000)) + (torch.randperm(n - 1000, generator=generator) + 1000).tolist()
    if isinstance(vocab, list):  # unigram (T5): [piece, score] by id
        spec["model"]["vocab"] = [vocab[j] for j in perm]
    else:  # wordpiece / bpe: token -> id
        by_id = {i: t for t, i in vocab.items()}
        spec["model"]["vocab"] = {by_id[j]: i for i, j in enumerate(perm)}
    (dst / "tokenizer.json").write_text(json.dumps(spec))
    return perm


@pytest.fixture(scope="module")
def rotated_t5(tiny_models, tmp_path_factory):
    src = Path(tiny_models["t5"])
    dst = tmp_path_factory.mktemp("rotated") / "t5"
    shutil.copytree(src, dst)
    g = torch.Generator().manual_seed(1)
    perm = permuted_tokenizer(src, dst, g)
    model = AutoModelForSeq2SeqLM.from_pretrained(src)
    d = model.config.d_model
    rot = torch.linalg.qr(torch.randn(d, d, generator=g))[0]
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_norm" in name:  # the rotation is exact only for unit-weight RMS norms (T5's init)
                assert torch.all(p == 1.0), name
        for name, mod in model.named_modules():
            leaf = name.split(".")[-1]
            if isinstance(mod, torch.nn.Linear) and leaf in ("q", "k", "v", "wi", "wi_0", "wi_1"):
                mod.weight.copy_(mod.weight @ rot.T)  # reads the rotated residual stream
            elif isinstance(mod, torch.nn.Linear) and leaf in ("o", "wo"):
                mod.weight.copy_(rot @ mod.weight)  # writes into it
        idx = torch.tensor(perm + list(range(len(perm), model.shared.weight.shape[0])))
        model.shared.weight.copy_(model.shared.weight[idx] @ rot.T)  # tied: the LM head turns with it
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * p.std() * 0.05)
    model.save_pretrained(dst)
    return str(dst)


@pytest.fixture(scope="module")
def t5_source(tiny_models, tmp_path_factory):
    run = tmp_path_factory.mktemp("t5-source") / "run"
    train_command.run(TrainConfig(backbone=tiny_models["t5"], output_dir=str(run), prompt_length=4, batch_size=8,
                                  max_steps=24, eval_every=8, lr=0.3, train_file=DATA, eval_batch_size=32,
                                  log_every=100, **SCORE))
    return str(run / "best")


def accuracy(prompt: str | torch.Tensor, backbone: str) -> float:
    cfg = ScoreConfig(backbone=backbone, **SCORE)
    scorer = open_scorer(cfg, 4)
    try:
        tensor = load_prompt(prompt)[0] if isinstance(prompt, str) else prompt
        return scorer.evaluate(get_task("sst2"), tensor)["accuracy"]
    finally:
        scorer.close()


def test_v2v_lin_recovers_an_exact_linear_map_between_two_backbones(tiny_models, tmp_path):
    """BERT (WordPiece, hidden 48) to RoBERTa (byte-level BPE, hidden 32): the target's shared-token embeddings are
    set to the source's times a random A; the fitted map is A and the recycled prompt is P A."""
    bert, roberta = Path(tiny_models["bert"]), Path(tiny_models["roberta"])
    src_tok, tgt_tok = AutoTokenizer.from_pretrained(bert), AutoTokenizer.from_pretrained(roberta)
    src_emb = AutoModel.from_pretrained(bert).get_input_embeddings().weight.detach()
    target = tmp_path / "roberta"
    shutil.copytree(roberta, target)
    model = AutoModelForMaskedLM.from_pretrained(roberta)
    emb = model.get_input_embeddings().weight
    s_ids, t_ids = shared_ids(canonical_vocab(src_tok), canonical_vocab(tgt_tok), 20000,
                              (src_emb.shape[0], emb.shape[0]))
    assert len(s_ids) > 1000  # " the" (WordPiece "the") and " the" (BPE "Ġthe") are one word
    assert src_tok.convert_ids_to_tokens(s_ids[0]).lstrip("#") in tgt_tok.convert_ids_to_tokens(t_ids[0])
    a = torch.randn(48, 32, generator=torch.Generator().manual_seed(0)) / 7
    with torch.no_grad():
        emb[torch.tensor(t_ids)] = src_emb[torch.tensor(s_ids)] @ a
    model.save_pretrained(target)
    w = fit_linear(src_emb[s_ids], emb.detach()[t_ids])
    assert (w.float() - a).abs().max() < 1e-4
    prompt = fake_prompt(tmp_path / "p", str(bert), "sst2", family="encoder")
    r = CliRunner().invoke(main, ["transfer", "recycle", "--prompt", prompt, "--target-backbone", str(target),
                                  "--output-dir", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    recycled, meta = load_prompt(tmp_path / "out")
    assert (recycled - load_prompt(prompt)[0] @ a).abs().max() < 1e-4
    assert meta["init"]["fit_relative_residual"] < 1e-5 and meta["backbone"] == str(target)
    assert meta["family"] == "masked_lm" and meta["init"]["source_sha256"] == load_prompt(prompt)[1]["sha256"]


@pytest.mark.parametrize("method", ["v2v-lin", "lin-comb"])
def test_a_recycled_prompt_scores_above_random_where_the_source_prompt_works(t5_source, rotated_t5, tiny_models,
                                                                            tmp_path, method):
    source_acc = accuracy(t5_source, tiny_models["t5"])
    assert source_acc >= 0.85  # the source prompt works on its own backbone
    unchanged = accuracy(t5_source, rotated_t5)
    r = CliRunner().invoke(main, ["transfer", "recycle", "--prompt", t5_source, "--target-backbone", rotated_t5,
                                  "--method", method, "--output-dir", str(tmp_path / "rec")])
    assert r.exit_code == 0, r.output
    recycled = accuracy(str(tmp_path / "rec"), rotated_t5)
    cfg = ScoreConfig(backbone=rotated_t5, **SCORE)
    scorer = open_scorer(cfg, 4)
    try:
        randoms = [scorer.evaluate(get_task("sst2"), scorer.initial_prompt("vocab", 4, s, get_task("sst2"))[0])
                   ["accuracy"] for s in range(5)]
    finally:
        scorer.close()
    assert recycled >= source_acc - 0.05, (recycled, source_acc)
    assert recycled > max(randoms) + 0.2 and recycled > unchanged + 0.2, (recycled, randoms, unchanged)
    # the recycled artifact is a prompt like any other: `ptt eval` scores it on the target backbone
    r = CliRunner().invoke(main, ["eval", "--prompt", str(tmp_path / "rec"), "--task", "sst2", "--eval-file", DATA,
                                  "--text-field", "text", "--max-eval-examples", "64", "--precision", "fp32"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output.strip().splitlines()[-1])["accuracy"] == pytest.approx(recycled)


def test_recycle_arm_in_compare(t5_source, rotated_t5, tmp_path):
    base = TrainConfig(backbone=rotated_t5, task="sst2", prompt_length=4, max_length=24, max_steps=2, eval_every=2,
                       batch_size=4, train_file=DATA, eval_file=DATA, text_field="text", max_train_examples=32,
                       max_eval_examples=32, precision="fp32", output_dir="unused")
    report = compare.run(CompareConfig(**{**fields_of(base, CompareConfig), "arms": f"vocab,recycle:{t5_source}",
                                          "seeds": 1, "output_dir": str(tmp_path / "cmp")}))
    start = {a["spec"]: a for a in report["arms"]}[f"recycle:{t5_source}"]["start"]
    assert start["method"] == "v2v-lin" and start["shared_tokens"] >= 1000 and report["baseline"] == "vocab"
    step0 = report["per_seed"][0]["arms"]
    assert step0[f"recycle:{t5_source}"]["step0"] > step0["vocab"]["step0"]


def test_recycle_bad_input(tiny_models, tmp_path):
    bert = Path(tiny_models["bert"])
    alien = tmp_path / "alien"
    shutil.copytree(bert, alien)
    spec = json.loads((alien / "tokenizer.json").read_text())
    specials = {t["content"] for t in spec.get("added_tokens", [])}
    spec["model"]["vocab"] = {(t if t in specials else f"zz{i}qq"): i for t, i in spec["model"]["vocab"].items()}
    (alien / "tokenizer.json").write_text(json.dumps(spec))
    prompt = fake_prompt(tmp_path / "p", tiny_models["t5"], "sst2", hidden=32, family="seq2seq")
    inv = lambda *a: CliRunner().invoke(main, list(a))  # noqa: E731
    assert_clean_error(inv("transfer", "recycle", "--prompt", prompt, "--target-backbone", str(alien), "--output-dir",
                           str(tmp_path / "o")), "share 0 tokens", "at least", "projector")
    assert_clean_error(inv("transfer", "recycle", "--prompt", prompt, "--target-backbone", str(bert), "--method",
                           "nearest", "--output-dir", str(tmp_path / "o")), "--method", "nearest", "v2v-lin")
    assert_clean_error(inv("transfer", "recycle", "--prompt", str(tmp_path / "none"), "--target-backbone", str(bert),
                           "--output-dir", str(tmp_path / "o")), "--prompt")
    assert_clean_error(inv("transfer", "recycle", "--prompt", prompt, "--target-backbone", str(bert), "--max-tokens",
                           "0", "--output-dir", str(tmp_path / "o")), "--max-tokens 0")
    assert_clean_error(inv("transfer", "recycle", "--prompt", prompt, "--target-backbone", str(bert), "--max-tokens",
                           "20", "--output-dir", str(tmp_path / "o")), "--max-tokens 20", "needs at least 100",
                       "raise --max-tokens")
    assert not (tmp_path / "o").exists()


def test_embeddings_are_read_from_the_checkpoint_without_building_the_model(tiny_models, monkeypatch):
    import ptt.transfer.cross_model.recycle as recycle_module

    full = {k: AutoModel.from_pretrained(tiny_models[k]).get_input_embeddings().weight.detach()
            for k in ("t5", "roberta", "bert")}

    def no_model(*a, **k):
        raise AssertionError("the whole model was loaded to read its embeddings")

    monkeypatch.setattr(recycle_module, "load_frozen", no_model)
    for kind, weight in full.items():
        emb, tok = recycle_module.input_embeddings(tiny_models[kind])
        assert torch.equal(emb, weight) and len(tok) <= emb.shape[0], kind
