"""The training loop's typed state: the data-order chain, the best-so-far rule, and resume states saved by runs
before the state was typed (a dict of some of its fields) read back."""

from __future__ import annotations

import hashlib

from ptt.recipe.state import LoopState
from ptt.training import StepResult


def test_advance_chains_each_batch_into_the_data_order_hash():
    state = LoopState()
    state.advance([3, 1], skipped=False)
    state.advance([0, 2], skipped=True)
    first = hashlib.sha256(":[3, 1]".encode()).hexdigest()
    assert state.data_order == hashlib.sha256(f"{first}:[0, 2]".encode()).hexdigest()
    assert (state.step, state.skipped) == (2, 1)
    other = LoopState()
    other.advance([1, 3], skipped=False)  # the same rows in another order is another data order
    assert other.data_order != first


def test_the_best_metric_only_improves_upwards():
    state = LoopState()
    assert state.improves(0.1)
    state.best = 0.5
    assert state.improves(0.6) and not state.improves(0.5) and not state.improves(0.4)


def test_a_state_saved_as_a_dict_round_trips_and_an_older_one_loads():
    state = LoopState(step=4, best=0.75, best_step=2, skipped=1, data_order="ab")
    assert LoopState.from_dict(state.to_dict()) == state
    old = LoopState.from_dict({"step": 6, "best": 0.5, "best_step": 6})  # no skipped / data_order saved
    assert (old.step, old.best, old.best_step, old.skipped, old.data_order) == (6, 0.5, 6, 0, "")


def test_a_skipped_step_has_no_loss():
    assert StepResult(None, 0).skipped and not StepResult(0.7, 12).skipped
