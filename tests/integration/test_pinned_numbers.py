"""Pinned numbers: one short fixed-seed run per family (and generation for the two families that decode) on the
test suite's tiny models (`ptt.tiny`, seed 0) under ZeRO-3 on CPU in fp32: the loss of every step, the final
metrics and (generation) the first decodings, against values recorded at the commit that added this test (whose
code `benchmarks/same_numbers.py` found to give the same numbers as 79416c2 on its own jobs). A change that moves
any of them changes what ptt computes: prove it intended with same_numbers.py before updating a value here.

Tolerance: losses to a relative 1e-5 (fp32 reductions may round differently on another CPU's vector width);
metrics and decoded texts exactly.
"""

from __future__ import annotations

import pytest

from ptt.training import build_trainer
from tests.helpers import tiny_cfg

GENERATION = {"task": "squad", "max_length": 48, "max_new_tokens": 4}
JOBS = {"t5": ("t5", {}), "roberta": ("roberta", {}), "bert": ("bert", {}), "llama": ("llama", {}),
        "t5-squad": ("t5", GENERATION), "llama-squad": ("llama", GENERATION)}
PINNED = {
    "t5": {
        "losses": [0.831114649772644, 0.7604423761367798, 0.8406262397766113, 0.7130039930343628],
        "metrics": {"accuracy": 0.5, "macro_f1": 0.4666666666666667,
                    "balanced_accuracy": 0.47619047619047616, "top_prediction_share": 0.6875},
    },
    "roberta": {
        "losses": [0.699498176574707, 0.7053340077400208, 0.6922909617424011, 0.7021381855010986],
        "metrics": {"accuracy": 0.625, "macro_f1": 0.5636363636363637,
                    "balanced_accuracy": 0.5873015873015872, "top_prediction_share": 0.8125},
    },
    "bert": {
        "losses": [0.5780889391899109, 0.48422980308532715, 0.6123272776603699, 0.8101038932800293],
        "metrics": {"accuracy": 0.4375, "macro_f1": 0.30434782608695654,
                    "balanced_accuracy": 0.5, "top_prediction_share": 1.0},
    },
    "llama": {
        "losses": [0.703486442565918, 0.6964185833930969, 0.689834713935852, 0.6939657926559448],
        "metrics": {"accuracy": 0.5, "macro_f1": 0.3333333333333333,
                    "balanced_accuracy": 0.4444444444444444, "top_prediction_share": 0.9375},
    },
    "t5-squad": {
        "losses": [11.067378044128418, 10.702141761779785, 10.940308570861816, 11.122812271118164],
        "metrics": {"exact_match": 0.0, "f1": 0.0},
        "texts": ["penalty penalty penalty penalty"] * 3,
    },
    "llama-squad": {
        "losses": [10.880321502685547, 10.871103286743164, 10.827425003051758, 10.872037887573242],
        "metrics": {"exact_match": 0.0, "f1": 0.0},
        "texts": ["92 crypticFuck condemnation", "Kemp Obamacare Fors Frankie", "92 crypticFuck condemnation"],
    },
}


@pytest.fixture(scope="module")
def models(tiny_models, tiny_causal) -> dict[str, str]:
    return {**tiny_models, **tiny_causal}


@pytest.mark.parametrize("name", list(JOBS))
def test_a_short_run_gives_the_pinned_numbers(models, tmp_path, name):
    kind, changes = JOBS[name]
    trainer = build_trainer(tiny_cfg(models[kind], tmp_path, **changes))
    try:
        losses = [trainer.step(i).loss for i in range(4)]
        metrics = trainer.evaluate()
        view = trainer.view()
        texts = trainer.scorer.generate(view.eval_rows[:3], view.task) if "texts" in PINNED[name] else None
    finally:
        trainer.close()
    want = PINNED[name]
    assert losses == pytest.approx(want["losses"], rel=1e-5, abs=0)
    assert metrics == want["metrics"]
    if texts is not None:
        assert texts == want["texts"]
