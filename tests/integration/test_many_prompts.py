"""Many prompts in one forward: scoring P prompts on the same rows stacks them into the batch dimension. Every
family (and generation for the families that decode) gives the same scores, metrics, decodings and activated
neurons as scoring one prompt at a time."""

from __future__ import annotations

import pytest
import torch

from ptt.config import ScoreConfig
from ptt.core.tasks import get_task
from ptt.scoring import open_scorer
from ptt.transfer.indicators.overlap import activation_masks

L = 3
KINDS = ["t5", "roberta", "bert_mlm", "bert", "gpt2", "llama"]


@pytest.fixture(scope="module")
def models(tiny_models, tiny_causal) -> dict[str, str]:
    return {**tiny_models, **tiny_causal}


def prompts_for(scorer, n: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.randn(n, L, scorer.frozen.hidden, generator=g) * 0.5


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch", [5, 64])  # fewer rows per forward than prompts x rows, and all rows at once
def test_scoring_stacked_prompts_equals_one_prompt_at_a_time(models, kind, batch):
    scorer = open_scorer(ScoreConfig(backbone=models[kind], precision="fp32", max_eval_examples=11,
                                     eval_batch_size=batch), L)
    try:
        prompts = prompts_for(scorer)
        for name in ("sst2", "snli"):  # a single-text and a pair task
            task = get_task(name)
            rows = scorer.rows(task, "eval")
            together = scorer.classify_many(rows, scorer.labels(task), prompts)
            alone = [scorer.classify(rows, scorer.labels(task), p) for p in prompts]
            assert len(together) == len(prompts) and all(len(t) == len(rows) for t in together)
            for t, a in zip(together, alone):
                torch.testing.assert_close(torch.tensor(t), torch.tensor(a), rtol=1e-5, atol=1e-5)
            assert scorer.evaluate_many(task, prompts) == [scorer.evaluate(task, p) for p in prompts]
            assert together[0] != together[1]  # the prompts really differ in what they score
        many = activation_masks(scorer, list(prompts))
        for p, masks in zip(prompts, many):
            assert all(torch.equal(a, b) for a, b in zip(masks, activation_masks(scorer, [p])[0]))
    finally:
        scorer.close()


@pytest.mark.parametrize("kind", ["t5", "llama"])
def test_decoding_stacked_prompts_equals_one_prompt_at_a_time(models, kind):
    scorer = open_scorer(ScoreConfig(backbone=models[kind], precision="fp32", max_eval_examples=5, eval_batch_size=4,
                                     max_length=48, max_new_tokens=5), L)
    try:
        prompts, task = prompts_for(scorer), get_task("squad")
        rows = scorer.rows(task, "eval")
        together = scorer.generate_many(rows, task, prompts)
        assert together == [scorer.generate(rows, task, p) for p in prompts]
        assert scorer.evaluate_many(task, prompts) == [scorer.evaluate(task, p) for p in prompts]
    finally:
        scorer.close()
