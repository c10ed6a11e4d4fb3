"""Pure functions: metrics, data order, prompt math, batch arithmetic; what a run folder's config.json says it holds."""

import pytest
import torch

from ptt.config import TrainConfig
from ptt.errors import PttError
from ptt.core.metrics import accuracy, compute, f1
from ptt.core.order import GROUP_WINDOW, by_length, epoch_permutation, eval_shard, global_batch, rank_micro_batches
from ptt.core.prompt import frequent_token_ids, labels_init, prepend, uniform_init, vocab_init
from ptt.runtime.rundir import check_run_dir, run_kind


def test_accuracy_and_f1_hand_checked():
    preds, labels = [1, 0, 1, 1], [1, 0, 0, 1]
    assert accuracy(preds, labels) == 0.75
    # tp=2 fp=1 fn=0 -> 4/5
    assert f1(preds, labels) == pytest.approx(0.8)
    assert f1([0, 0], [1, 1]) == 0.0
    assert compute(("accuracy", "f1"), [1], [1]) == {"accuracy": 1.0, "f1": 1.0}
    with pytest.raises(ValueError):
        accuracy([1], [1, 0])


def test_global_batches_cover_each_epoch_once_and_are_deterministic():
    n, bs = 10, 4
    stream = [i for step in range(5) for i in global_batch(n, seed=3, step=step, batch_size=bs)]
    assert sorted(stream[:10]) == list(range(10))  # epoch 0 is a permutation
    assert sorted(stream[10:20]) == list(range(10))  # and so is epoch 1
    assert stream[:10] == epoch_permutation(10, 3, 0)
    assert global_batch(n, 3, 2, bs) == global_batch(n, 3, 2, bs)
    assert global_batch(n, 3, 2, bs) != global_batch(n, 4, 2, bs)


def test_rank_shares_reassemble_the_global_batch():
    batch = list(range(16))
    parts = [rank_micro_batches(batch, r, 2, 4) for r in range(2)]
    assert [len(p) for p in parts] == [2, 2]
    assert [i for p in parts for mb in p for i in mb] == batch


def test_eval_shards_cover_everything_with_equal_counts():
    shards = [eval_shard(7, r, 3) for r in range(3)]
    assert len({len(s) for s in shards}) == 1
    assert set().union(*map(set, shards)) == set(range(7))


def test_prepend_shapes_and_mask():
    prompt = torch.arange(6.0).view(3, 2)
    embeds, mask = torch.zeros(2, 4, 2), torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    out, out_mask = prepend(prompt, embeds, mask)
    assert out.shape == (2, 7, 2) and out_mask.shape == (2, 7)
    assert torch.equal(out[1, :3], prompt)
    assert out_mask[0].tolist() == [1, 1, 1, 1, 1, 0, 0]


def test_initializers():
    g = torch.Generator().manual_seed(0)
    u = uniform_init(5, 4, g)
    assert u.shape == (5, 4) and u.abs().max() <= 0.5
    emb = torch.arange(40.0).view(10, 4)
    pool = frequent_token_ids(10, special_ids=[0, 1], top_k=5)
    assert pool == [2, 3, 4, 5, 6]
    v = vocab_init(emb, 3, torch.Generator().manual_seed(0), pool)
    rows = {tuple(r.tolist()) for r in v}
    assert rows <= {tuple(emb[i].tolist()) for i in pool} and len(rows) == 3
    lab = labels_init(emb, 4, torch.Generator().manual_seed(0), [7, 9], pool)
    assert torch.equal(lab[:2], emb[[7, 9]]) and lab.shape == (4, 4)


def test_batch_plan_arithmetic_and_errors():
    cfg = TrainConfig(batch_size=16, micro_batch_size=4)
    assert cfg.batch_plan(1) == (4, 4)
    assert cfg.batch_plan(2) == (4, 2)
    assert TrainConfig(batch_size=16).batch_plan(4) == (4, 1)
    with pytest.raises(PttError, match="--batch-size 16: not divisible by the 3 ranks"):
        cfg.batch_plan(3)
    with pytest.raises(PttError, match="--micro-batch-size 3"):
        TrainConfig(batch_size=16, micro_batch_size=3).batch_plan(2)


@pytest.mark.parametrize("kwargs,match", [
    ({"init": "zeros"}, "--init zeros"),
    ({"prompt_length": 0}, "--prompt-length 0"),
    ({"eval_every": 50, "max_steps": 10}, "--eval-every 50"),
    ({"precision": "fp16"}, "--precision fp16"),
    ({"lr": -1.0}, "--lr -1.0"),
    ({"resume": True, "overwrite": True}, "--resume and --overwrite"),
])
def test_config_rejects_bad_values(kwargs, match):
    with pytest.raises(PttError, match=match) as e:
        TrainConfig(**kwargs)
    assert e.value.exit_code == 2


def _padded_positions(batches, lengths):
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def test_grouped_batches_regroup_each_window_of_the_random_stream():
    n, bs, steps = 997, 8, 2 * GROUP_WINDOW
    g = torch.Generator().manual_seed(1)
    lengths = tuple((torch.randint(5, 120, (n,), generator=g)).tolist())
    rand = [global_batch(n, 7, s, bs) for s in range(steps)]
    grouped = [global_batch(n, 7, s, bs, lengths) for s in range(steps)]
    for w in range(2):  # each window: exactly the random stream's examples, regrouped
        window = slice(w * GROUP_WINDOW, (w + 1) * GROUP_WINDOW)
        assert sorted(i for b in grouped[window] for i in b) == sorted(i for b in rand[window] for i in b)
        spans = sorted((min(lengths[i] for i in b), max(lengths[i] for i in b)) for b in grouped[window])
        assert all(hi <= lo_next for (_, hi), (lo_next, _) in zip(spans, spans[1:]))  # disjoint length ranges
        maxima = [max(lengths[i] for i in b) for b in grouped[window]]
        assert maxima != sorted(maxima) and maxima != sorted(maxima, reverse=True)  # batch order shuffled
    assert _padded_positions(grouped, lengths) < 0.7 * _padded_positions(rand, lengths)


def test_grouped_batches_are_a_pure_function_of_seed_and_step():
    n, bs = 300, 4
    lengths = tuple((i * 37) % 50 for i in range(n))
    forward = [global_batch(n, 3, s, bs, lengths) for s in range(120)]
    backward = [global_batch(n, 3, s, bs, list(lengths)) for s in reversed(range(120))][::-1]
    assert forward == backward  # any order of calls, a fresh lengths object: the same batches (resume)
    assert forward != [global_batch(n, 4, s, bs, lengths) for s in range(120)]
    assert global_batch(n, 3, 51, bs, lengths) != global_batch(n, 3, 51, bs)
    with pytest.raises(ValueError):
        global_batch(n, 3, 0, bs, lengths[:-1])


def test_batch_order_config():
    assert TrainConfig().batch_order == "grouped"
    assert TrainConfig.from_dict({"task": "mr"}).batch_order == "random"  # run folders older than the field
    with pytest.raises(PttError, match="--batch-order sorted: unknown; choose one of grouped, random"):
        TrainConfig(batch_order="sorted")


def test_by_length_is_longest_first_and_stable():
    assert by_length([0, 1, 2, 3], [3, 5, 3, 1]) == [1, 0, 2, 3]


def test_grouped_batches_on_a_small_data_set_never_repeat_an_example_in_a_batch():
    n, bs = 40, 8  # a window of 50 batches spans 10 epochs
    lengths = tuple((i * 7) % 13 for i in range(n))
    grouped = [global_batch(n, 0, s, bs, lengths) for s in range(2 * GROUP_WINDOW)]
    assert all(len(set(b)) == bs for b in grouped)
    counts = [0] * n
    for b in grouped:
        for i in b:
            counts[i] += 1
    assert set(counts) == {2 * GROUP_WINDOW * bs // n}


@pytest.mark.parametrize("written,kind", [
    (None, None),  # no config.json: no run
    ('{"train": {"task": "sst2"}}', "train"),  # written by ptt train before kinds were recorded
    ('{"kind": "train", "train": {}}', "train"),
    ('{"kind": "projector", "project_fit": {}}', "projector"),
    ('{"model_type": "bert", "hidden_size": 32}', "other"),  # a model folder's config.json
    ('{"kind": ["projector"]}', "other"),
    ("[1, 2]", "other"),
])
def test_run_kind_reads_what_config_json_says(tmp_path, written, kind):
    if written is not None:
        (tmp_path / "config.json").write_text(written)
    assert run_kind(tmp_path) == kind
    if kind in ("projector", "other"):  # another kind: neither resumed nor replaced by ptt train
        for resume, overwrite in ((True, False), (False, True)):
            with pytest.raises(PttError, match="neither --resume nor --overwrite applies to it"):
                check_run_dir(tmp_path, resume, overwrite)
    elif kind == "train":
        check_run_dir(tmp_path, True, False)  # its own kind resumes
        with pytest.raises(PttError, match="not a projector fit"):
            check_run_dir(tmp_path, False, True, kind="projector", resumable=False)
