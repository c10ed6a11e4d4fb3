"""Generation tasks on tiny T5- and Llama-shaped models: the loss covers target tokens only, greedy decoding with
the cache equals decoding without it, train/eval/resume through the commands, bad input, and a 2-rank ZeRO-3 run
through the launcher whose ranks decode outputs of different lengths."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import subprocess

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, T5ForConditionalGeneration

from ptt.commands.train import run as train
from ptt.config import ScoreConfig
from ptt.core.encode import collate
from ptt.core.tasks import get_task
from ptt.families.base import greedy
from ptt.runtime.artifacts import load_prompt
from ptt.scoring import open_scorer
from ptt.tiny import build
from tests.helpers import REPO, clean_env, run_ptt, deepspeed_launcher, free_port, tiny_cfg, fake_prompt, fields_of

L = 4


@pytest.fixture(scope="module")
def t5_eos(tmp_path_factory) -> str:
    """A tiny T5 whose EOS logit wins for some inputs and not for others: outputs of different lengths."""
    path = build("t5", tmp_path_factory.mktemp("t5eos") / "t5")
    model = T5ForConditionalGeneration.from_pretrained(path)
    with torch.no_grad():
        v = torch.randn(model.config.d_model, generator=torch.Generator().manual_seed(0))
        model.lm_head.weight[model.config.eos_token_id] = 15 * v / v.norm()
    model.save_pretrained(path)
    return str(path)


def gen_cfg(backbone, out, **kw):
    return tiny_cfg(backbone, out, **{"task": "squad", "max_length": 48, "max_new_tokens": 6, "max_train_examples": 16,
                                      "max_eval_examples": 6, "eval_batch_size": 3, "ds_config": "zero2_bf16", **kw})


def _batch(backbone, task="squad"):
    scorer = open_scorer(ScoreConfig(backbone=backbone, precision="fp32", max_eval_examples=5, max_length=48), L)
    rows = scorer.rows(get_task(task), "eval")
    return scorer, collate(rows, scorer.tokenizer.pad_token_id), torch.randn(L, 32, generator=torch.Generator().manual_seed(2))


def _loss(backbone):
    """The family's teacher-forced loss of a batch of real SQuAD rows: (loss, batch, prompt)."""
    scorer, batch, prompt = _batch(backbone)
    try:
        return scorer.lm_loss(batch, prompt), batch, prompt
    finally:
        scorer.close()


def test_seq2seq_loss_covers_the_target_tokens_only(tiny_models):
    got, batch, prompt = _loss(tiny_models["t5"])
    model = AutoModelForSeq2SeqLM.from_pretrained(tiny_models["t5"]).eval()
    x = torch.cat([prompt.expand(len(batch["input_ids"]), -1, -1), model.get_input_embeddings()(batch["input_ids"])], 1)
    mask = torch.cat([torch.ones(len(x), L, dtype=torch.long), batch["attention_mask"]], 1)
    target, tmask = batch["target_ids"], batch["target_mask"].bool()
    dec = torch.cat([torch.full((len(x), 1), model.config.decoder_start_token_id), target[:, :-1]], 1)
    with torch.no_grad():
        logits = model(inputs_embeds=x, attention_mask=mask, decoder_input_ids=dec).logits
    want = F.cross_entropy(logits[tmask], target[tmask])  # padding positions of the target never count
    assert tmask.sum() < tmask.numel()  # targets of different lengths: padding is there to be left out
    assert torch.allclose(got, want, atol=1e-5)


def test_causal_loss_covers_the_target_tokens_only(causal):  # noqa: F811
    got, batch, prompt = _loss(causal["llama"])
    model = AutoModelForCausalLM.from_pretrained(causal["llama"]).eval()
    losses = []
    with torch.no_grad():
        for ids, m, tgt, tm in zip(batch["input_ids"], batch["attention_mask"], batch["target_ids"],
                                   batch["target_mask"]):
            src, t = ids[m.bool()], tgt[tm.bool()]
            x = torch.cat([prompt, model.get_input_embeddings()(torch.cat([src, t]))])[None]
            logits = model(inputs_embeds=x).logits[0]
            first = L + len(src) - 1  # the last source token predicts the first target token
            losses.append(F.cross_entropy(logits[first:first + len(t)], t, reduction="sum"))
            n = len(t)
            losses[-1] = (losses[-1], n)
    want = sum(v for v, _ in losses) / sum(n for _, n in losses)
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("which", ["t5", "llama"])
def test_greedy_with_the_cache_equals_greedy_without_it(tiny_models, causal, t5_eos, which):  # noqa: F811
    backbone = t5_eos if which == "t5" else causal["llama"]
    scorer, batch, prompt = _batch(backbone)
    try:
        embeds, mask, _ = scorer.model.prompted(batch["input_ids"], batch["attention_mask"], prompt)
        tok = scorer.tokenizer
        with torch.no_grad():
            cached = scorer.family.generate(scorer.model.backbone, embeds, mask, 8, tok.eos_token_id, tok.pad_token_id,
                                            use_cache=True)
            full = scorer.family.generate(scorer.model.backbone, embeds, mask, 8, tok.eos_token_id, tok.pad_token_id,
                                          use_cache=False)
    finally:
        scorer.close()
    assert cached.shape[0] == len(batch["input_ids"]) and torch.equal(cached, full)


def _rank_loop(rank, port, result):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE="2")
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    ends = 2 if rank == 0 else 5  # rank 0's rows are done after 2 tokens, rank 1's after 5
    calls = []

    def advance(nxt):
        calls.append(1)
        logits = torch.zeros(3, 10)
        logits[:, 1 if len(calls) + 1 >= ends else 4] = 1  # token 1 = EOS
        return logits

    first = torch.zeros(3, 10)
    first[:, 4] = 1
    tokens = greedy(first, advance, 8, eos_id=1, pad_id=0, synced=True)
    result[rank] = (len(calls), tokens.shape[1])
    torch.distributed.destroy_process_group()


def test_synced_greedy_keeps_ranks_in_step_when_one_finishes_early():
    result = mp.Manager().dict()
    port = free_port()
    procs = [mp.get_context("spawn").Process(target=_rank_loop, args=(r, port, result)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    assert result[0][0] == result[1][0] == 4  # both ranks ran the same decoder steps (rank 1's five tokens)
    assert result[0][1] == result[1][1] == 5


@pytest.mark.parametrize("which", ["t5", "llama"])
def test_train_and_eval_a_generation_task_and_resume_exactly(tiny_models, causal, tmp_path, which):  # noqa: F811
    backbone = tiny_models["t5"] if which == "t5" else causal["llama"]
    train(gen_cfg(backbone, tmp_path / "full", max_steps=4, warmup_steps=2))
    train(gen_cfg(backbone, tmp_path / "part", max_steps=2, warmup_steps=2))
    train(gen_cfg(backbone, tmp_path / "part", max_steps=4, warmup_steps=2, resume=True))
    assert torch.equal(load_prompt(tmp_path / "full" / "last")[0], load_prompt(tmp_path / "part" / "last")[0])
    rows = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2, 4] and set(rows[0]) == {"step", "exact_match", "f1"}
    config = json.loads((tmp_path / "full" / "config.json").read_text())
    assert config["metrics"] == ["exact_match", "f1"] and config["label_words"] is None
    r = run_ptt("eval", "--prompt", str(tmp_path / "full" / "last"), "--max-eval-examples", "6",
                "--max-new-tokens", "6", "--eval-batch-size", "3")
    assert r.returncode == 0, r.stderr
    assert {k: v for k, v in json.loads(r.stdout.splitlines()[-1]).items() if k in ("exact_match", "f1")} == \
        {k: rows[-1][k] for k in ("exact_match", "f1")}


@pytest.mark.parametrize("args,needles", [
    (["--task", "squad", "--backbone", "BERT"], ["--task squad", "encoder family cannot generate"]),
    (["--task", "samsum", "--max-new-tokens", "0"], ["--max-new-tokens 0"]),
    (["--task", "nq_open", "--init", "labels"], ["--init labels", "nq_open"]),
])
def test_generation_bad_input_is_one_line(tiny_models, tmp_path, args, needles):
    args = [tiny_models["bert"] if a == "BERT" else a for a in args]
    r = run_ptt("train", "--max-steps", "1", "--eval-every", "1", "--output-dir", str(tmp_path / "run"), *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    line = [x for x in r.stderr.splitlines() if x.startswith("Error")]
    assert len(line) == 1 and all(n in line[0] for n in needles), r.stderr
    assert not (tmp_path / "run").exists()


def test_a_generation_file_missing_its_answer_field(tiny_models, tmp_path):
    data = tmp_path / "data" / "nq_open" / "official_dev"
    data.mkdir(parents=True)
    (data / "NQ-open.dev.jsonl").write_text('{"question": "who wrote hamlet"}\n')
    r = run_ptt("eval", "--prompt", "unused", "--task", "nq_open", "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 2  # the prompt is checked first; now the data itself:
    p = fake_prompt(tmp_path / "p", tiny_models["t5"], "nq_open", hidden=32, family="seq2seq")
    r = run_ptt("eval", "--prompt", p, "--task", "nq_open", "--data-dir", str(tmp_path / "data"))
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    line = [x for x in r.stderr.splitlines() if x.startswith("Error")]
    assert len(line) == 1 and "NQ-open.dev.jsonl" in line[0] and "answer" in line[0], r.stderr


def test_two_rank_zero3_generation_through_the_launcher(t5_eos, tmp_path):
    out = tmp_path / "run"
    cmd = [deepspeed_launcher(), "--num_gpus", "2", "--master_port", str(free_port()),
           str(REPO / "launch" / "ptt_main.py"), "train", "--backbone", t5_eos, "--task", "squad",
           "--precision", "fp32", "--ds-config", "zero3_bf16", "--prompt-length", "4", "--init", "uniform",
           "--max-length", "48", "--max-steps", "2", "--eval-every", "2", "--batch-size", "4", "--lr", "1e-4",
           "--max-train-examples", "16", "--max-eval-examples", "12", "--eval-batch-size", "3",
           "--max-new-tokens", "8", "--output-dir", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path,
                          env=clean_env(PYTHONPATH=str(REPO)))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2]
    # the same prompt decoded in one process: the rows' outputs end at different lengths, so the two ranks'
    # batches did too, and the 2-rank metrics equal the single-process ones
    prompt, _ = load_prompt(out / "last")
    scorer = open_scorer(ScoreConfig(backbone=t5_eos, precision="fp32", max_eval_examples=12, max_length=48,
                                     max_new_tokens=8, eval_batch_size=3), 4)
    try:
        task = get_task("squad")
        texts = scorer.generate(scorer.rows(task, "eval"), task, prompt)
        alone = scorer.evaluate(task, prompt)
    finally:
        scorer.close()
    lengths = [len(t.split()) for t in texts]
    assert len(set(lengths[0::2])) + len(set(lengths[1::2])) > 2 or set(lengths[0::2]) != set(lengths[1::2]), lengths
    assert {k: rows[-1][k] for k in alone} == alone


def test_generation_tasks_are_in_the_transfer_matrix_with_their_own_metric(tiny_models, tmp_path):
    p = fake_prompt(tmp_path / "p", tiny_models["t5"], "sst2", hidden=32, family="seq2seq")
    r = run_ptt("transfer", "eval", "--prompts", p, "--tasks", "sst2,squad,samsum", "--output-dir", str(tmp_path / "m"),
                "--max-eval-examples", "4", "--max-new-tokens", "4", "--precision", "fp32")
    assert r.returncode == 0, r.stderr
    matrix = json.loads((tmp_path / "m" / "matrix.json").read_text())
    assert matrix["metric"] == {"sst2": "accuracy", "squad": "f1", "samsum": "rougeL"}
    assert set(matrix["all_metrics"]["sst2"]["samsum"]) == {"rouge1", "rouge2", "rougeL"}
    assert matrix["relative"][0] == [1.0, None, None]


def test_sources_are_ranked_for_a_generation_target_by_its_primary_metric(tiny_models, tmp_path):
    from ptt.config import RankConfig
    from ptt.transfer.sources.ranking import rank_library, render_ranking
    for i, task in enumerate(("squad", "sst2", "nq_open")):
        fake_prompt(tmp_path / "lib" / task, tiny_models["t5"], task, hidden=32, family="seq2seq", seed=i)
    cfg = RankConfig(task="nq_open", backbone=tiny_models["t5"], library=str(tmp_path / "lib"), sample=6,
                     max_new_tokens=4, precision="fp32", max_length=48)
    result = rank_library(cfg.library, cfg, sample=cfg.sample)
    assert sorted(r["task"] for r in result["ranking"]) == ["squad", "sst2"]  # the target's own prompt is left out
    assert all(set(r["metrics"]) == {"exact_match", "f1"} and "f1" in r for r in result["ranking"])
    assert result["ranking"][0]["f1"] >= result["ranking"][1]["f1"] and "f1" in result["criterion"]
    assert "nq_open" in render_ranking(result)


def test_compare_runs_arms_on_a_generation_target(tiny_models, tmp_path):
    from ptt.commands import compare
    from ptt.config import CompareConfig
    source = fake_prompt(tmp_path / "src", tiny_models["t5"], "squad", hidden=32, family="seq2seq")
    fields = fields_of(gen_cfg(tiny_models["t5"], tmp_path / "x"), CompareConfig)
    report = compare.run(CompareConfig(**{**fields, "backbone": None, "task": "nq_open", "source": source, "seeds": 1, "max_steps": 2,
                                          "eval_every": 2, "output_dir": str(tmp_path / "cmp")}))
    assert report["metric"] == "f1" and report["source"]["task"] == "squad"
    assert [p[0] for p in report["per_seed"][0]["arms"][f"from:{source}"]["curve"]] == [0, 2]
    assert "macro_f1" not in report and report["majority_class"] is None  # no label prior on a generation task
    assert (tmp_path / "cmp" / "report.md").is_file() and (tmp_path / "cmp" / "curves.png").is_file()
