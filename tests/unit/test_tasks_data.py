"""Tests for the task table (ptt.core.tasks) and the data loaders (ptt.core.data).

Packaged-slice tests never skip; only the full-data tests skip when /work/shared/data is absent.
"""
import json
from collections import Counter
from pathlib import Path

import datasets
import pytest

from ptt.core import data as ptt_data
from ptt.core.data import default_data_dir, load_files, load_task_split
from ptt.core.tasks import FAMILIES, TASKS, get_task
from tests.helpers import raises_ptt

SHARED = Path("/work/shared/data")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="full data /work/shared/data absent")
TASK_SPLITS = [(name, split) for name in TASKS for split in ("train", "eval")]
BIN = ("negative", "positive")


def name_of(task_name, ds, i):
    """Label name of row i."""
    return get_task(task_name).label_names[ds[i]["label"]]


def find(ds, prefix):
    """Index of the first row whose text_a starts with prefix."""
    hits = [i for i, text in enumerate(ds["text_a"]) if text.startswith(prefix)]
    assert hits, f"no row starts with {prefix!r}"
    return hits[0]


# ---------------------------------------------------------------- task table

def test_all_twelve_tasks_with_expected_labels():
    expected = {
        "sst2": BIN, "mr": BIN, "imdb": BIN,
        "laptop": ("negative", "neutral", "positive"),
        "restaurant": ("negative", "neutral", "positive"),
        "tweeteval": ("negative", "neutral", "positive"),
        "snli": ("entailment", "neutral", "contradiction"),
        "mnli": ("entailment", "neutral", "contradiction"),
        "qnli": ("entailment", "not_entailment"), "rte": ("entailment", "not_entailment"),
        "mrpc": ("not_equivalent", "equivalent"), "qqp": ("not_duplicate", "duplicate"),
    }
    assert {name: task.label_names for name, task in TASKS.items()} == expected
    types = {name: task.type for name, task in TASKS.items()}
    assert [n for n, t in types.items() if t == "paraphrase"] == ["mrpc", "qqp"]
    assert [n for n, t in types.items() if t == "nli"] == ["snli", "mnli", "qnli", "rte"]


@pytest.mark.parametrize("name", list(TASKS))
def test_label_words_complete_and_distinct(name):
    task = TASKS[name]
    assert set(task.label_words) == set(FAMILIES) == {"seq2seq", "masked_lm", "encoder"}
    for family, words in task.label_words.items():
        assert len(words) == len(task.label_names), family
        assert len(set(words)) == len(words), family
        assert all(isinstance(w, str) and w for w in words)


def test_label_words_follow_the_paper():
    assert TASKS["laptop"].label_words["masked_lm"] == ("negative", "moderate", "positive")
    assert TASKS["sst2"].label_words["seq2seq"] == ("negative", "positive")
    assert TASKS["mnli"].label_words["masked_lm"] == ("yes", "neutral", "no")
    assert TASKS["mnli"].label_words["seq2seq"] == ("entailment", "neutral", "contradiction")
    assert TASKS["rte"].label_words["encoder"] == ("yes", "no")
    assert TASKS["qqp"].label_words["masked_lm"] == ("false", "true")


@pytest.mark.parametrize("name", list(TASKS))
def test_task_fields_consistent(name):
    task = TASKS[name]
    assert ("{b}" in task.template) == task.pair and "{a}" in task.template
    assert len(task.hf_fields) == (2 if task.pair else 1)
    assert set(task.hf_label_names) <= set(task.label_names)
    assert set(task.hf_splits) == set(task.local) == {"train", "eval"}
    assert task.metrics == (("accuracy", "f1") if name in ("mrpc", "qqp") else ("accuracy",))


def test_hub_sources():
    assert (TASKS["rte"].hf_path, TASKS["rte"].hf_name) == ("nyu-mll/glue", "rte")
    assert TASKS["rte"].hf_label_names == ("entailment", "not_entailment")
    assert TASKS["mnli"].hf_splits["eval"] == "validation_matched"
    assert TASKS["imdb"].hf_splits == {"train": "train", "eval": "test"}
    assert TASKS["tweeteval"].hf_label_names == ("negative", "neutral", "positive")
    assert TASKS["laptop"].template == "{a} aspect: {b}"


def test_get_task_known_and_unknown():
    assert get_task("rte") is TASKS["rte"]
    raises_ptt(get_task, "sst-2", needles=("--task", "sst-2", "sst2", "qqp"))


# ---------------------------------------------------------------- packaged slices

@pytest.mark.parametrize("name,split", TASK_SPLITS)
def test_packaged_split_loads(name, split):
    task = TASKS[name]
    ds = load_task_split(task, split)
    assert ds.column_names == ["text_a", "text_b", "label"]
    assert len(ds) > 0
    counts = Counter(ds["label"])
    assert set(counts) == set(range(len(task.label_names))), "every class must be present"
    assert min(counts.values()) >= 0.1 * len(ds) / len(task.label_names)
    assert all(isinstance(t, str) and t.strip() for t in list(ds["text_a"]))
    if task.pair:
        assert all(t.strip() for t in list(ds["text_b"]))
    else:
        assert set(ds["text_b"]) == {""}


def test_packaged_slice_limits_and_size():
    root = default_data_dir()
    assert root.is_dir() and (root / "SOURCES.md").is_file()
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    assert total < 8 * 1024 * 1024
    for name, task in TASKS.items():
        train, evals = (len(load_task_split(task, s)) for s in ("train", "eval"))
        assert train <= (6920 if name == "sst2" else 600 if name == "imdb" else 3000), name
        assert evals <= (500 if name == "imdb" else 1000), name


def test_sst2_sizes_and_first_label():
    train, dev = (load_task_split(TASKS["sst2"], s) for s in ("train", "eval"))
    assert (len(train), len(dev)) == (6920, 872)
    assert train[0]["text_a"].startswith("a stirring , funny")
    assert name_of("sst2", train, 0) == "positive"
    assert name_of("sst2", train, 1) == "negative"


def test_imdb_label_zero_is_positive():
    ds = load_task_split(TASKS["imdb"], "train")
    assert name_of("imdb", ds, find(ds, "Excellent story with supperb acting")) == "positive"
    bad = find(ds, "This movie was a complete waste of time. The soundtrack was bad")
    assert name_of("imdb", ds, bad) == "negative"
    assert not any("<br />" in t for t in list(ds["text_a"]))


def test_rte_dev_row0_is_not_entailment():
    ds = load_task_split(TASKS["rte"], "eval")
    assert ds[0]["text_a"].startswith("Dana Reeve, the widow of the actor Christopher Reeve")
    assert ds[0]["text_b"] == "Christopher Reeve had an accident."
    assert name_of("rte", ds, 0) == "not_entailment"
    assert name_of("rte", ds, 1) == "entailment"
    assert len(ds) == 277


def test_mrpc_bom_does_not_leak_and_quotes_are_kept():
    ds = load_task_split(TASKS["mrpc"], "train")
    assert not any("\ufeff" in t for t in list(ds["text_a"]) + list(ds["text_b"]))
    assert ds[0]["text_a"].startswith('Amrozi accused his brother, whom he called "the witness"')
    assert name_of("mrpc", ds, 0) == "equivalent"
    assert name_of("mrpc", ds, 1) == "not_equivalent"
    assert len(load_task_split(TASKS["mrpc"], "eval")) == 408


def test_mr_csv_quoting_is_undone():
    ds = load_task_split(TASKS["mr"], "train")
    assert ds[1]["text_a"] == ' " it\'s all about the image . "'
    assert name_of("mr", ds, 1) == "positive" and name_of("mr", ds, 0) == "negative"
    assert not any('""' in t for t in list(ds["text_a"]))


def test_absa_aspect_is_filled_in():
    ds = load_task_split(TASKS["laptop"], "train")
    assert ds[0]["text_a"] == ("I charge it at night and skip taking the cord with me because of "
                               "the good battery life .")
    assert ds[0]["text_b"] == "cord" and name_of("laptop", ds, 0) == "neutral"
    assert ds[1]["text_b"] == "battery life" and name_of("laptop", ds, 1) == "positive"
    assert not any("$T$" in t for t in list(ds["text_a"]))


def test_tweeteval_parallel_labels():
    ds = load_task_split(TASKS["tweeteval"], "train")
    assert ds[3]["text_a"].startswith("I think I may be finally in with the in crowd")
    assert [name_of("tweeteval", ds, i) for i in (0, 3, 4)] == ["neutral", "positive", "negative"]


def test_pretrain_json_labels():
    qqp = load_task_split(TASKS["qqp"], "train")
    assert qqp[0]["text_a"].startswith("How do I get inside University College London")
    assert name_of("qqp", qqp, 0) == "not_duplicate"
    snli = load_task_split(TASKS["snli"], "eval")
    assert (snli[0]["text_a"], name_of("snli", snli, 0)) == ("a man talks to a boy.", "neutral")
    assert name_of("snli", snli, 2) == "contradiction"


# ---------------------------------------------------------------- full data (skip only if absent)

FULL_SIZES = {"sst2": (6920, 872), "mr": (7795, 867), "imdb": (1000, 1000),
              "laptop": (2328, 638), "restaurant": (3608, 1120), "tweeteval": (12284, 2000),
              "snli": (8999, 1000), "mnli": (8999, 1000), "qnli": (8999, 1000),
              "rte": (2490, 277), "mrpc": (3668, 408), "qqp": (8999, 1000)}


@needs_shared
@pytest.mark.parametrize("name", list(TASKS))
def test_full_data_dir_loads(name):
    task = TASKS[name]
    sizes = tuple(len(load_task_split(task, s, data_dir=SHARED)) for s in ("train", "eval"))
    assert sizes == FULL_SIZES[name]


@needs_shared
def test_full_data_traps():
    imdb = load_task_split(TASKS["imdb"], "eval", data_dir=str(SHARED))
    assert Counter(imdb["label"]) == {0: 500, 1: 500}
    rte = load_task_split(TASKS["rte"], "eval", data_dir=SHARED)
    assert name_of("rte", rte, 0) == "not_entailment"
    mrpc = load_task_split(TASKS["mrpc"], "train", data_dir=SHARED)
    assert not any("\ufeff" in t for t in list(mrpc["text_a"]))


@needs_shared
@pytest.mark.parametrize("name,split", TASK_SPLITS)
def test_packaged_files_are_slices_of_the_originals(name, split):
    for rel in TASKS[name].local[split].files:
        small, full = (default_data_dir() / rel).read_bytes(), (SHARED / rel).read_bytes()
        if rel.endswith(".json"):
            part, whole = json.loads(small), json.loads(full)
            assert small.decode() == json.dumps(part, indent=4)  # same byte format
            assert all(whole[key] == value for key, value in part.items())
        else:
            assert full.startswith(small) and small.endswith(b"\n")


# ---------------------------------------------------------------- load_files

def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_load_csv_with_label_names(tmp_path):
    path = write(tmp_path, "d.csv", 'text,label\n"good, really",positive\nbad,negative\n')
    ds = load_files(path, ("text",), "label", BIN, "--train-file")
    assert ds.column_names == ["text_a", "text_b", "label"]
    assert list(ds["text_a"]) == ["good, really", "bad"] and list(ds["label"]) == [1, 0]
    assert list(ds["text_b"]) == ["", ""]


def test_load_tsv_pair_with_label_indices(tmp_path):
    path = write(tmp_path, "d.tsv", "p\th\ty\nA man.\tA person.\t0\nA cat.\tA dog.\t2\n")
    labels = TASKS["mnli"].label_names
    ds = load_files(path, ("p", "h"), "y", labels, "--eval-file")
    assert list(ds["text_b"]) == ["A person.", "A dog."] and list(ds["label"]) == [0, 2]


def test_load_json_list_mixed_labels(tmp_path):
    rows = [{"s": "fine", "l": 1}, {"s": "awful", "l": "negative"}, {"s": "ok", "l": "1"}]
    path = write(tmp_path, "d.json", json.dumps(rows))
    ds = load_files(path, ("s",), "l", BIN, "--train-file")
    assert list(ds["label"]) == [1, 0, 1] and list(ds["text_a"]) == ["fine", "awful", "ok"]


def test_load_jsonl_and_json_lines_in_json_file(tmp_path):
    text = '{"s": "fine", "l": "positive"}\n\n{"s": "awful", "l": 0}\n'
    for name in ("d.jsonl", "d.json"):
        ds = load_files(write(tmp_path, name, text), ("s",), "l", BIN, "--train-file")
        assert list(ds["label"]) == [1, 0] and list(ds["text_a"]) == ["fine", "awful"]


def test_load_json_dict_of_objects(tmp_path):
    path = write(tmp_path, "d.json", json.dumps({"0": {"a": "x", "b": "y", "label": "duplicate"}}))
    ds = load_files(path, ("a", "b"), "label", TASKS["qqp"].label_names, "--train-file")
    assert (ds[0]["text_a"], ds[0]["text_b"], ds[0]["label"]) == ("x", "y", 1)


def test_csv_with_bom_header(tmp_path):
    path = write(tmp_path, "d.csv", "\ufefftext,label\nhi,positive\n")
    assert load_files(path, ("text",), "label", BIN, "--train-file")["label"] == [1]


# ---------------------------------------------------------------- errors

def test_error_missing_file(tmp_path):
    missing = tmp_path / "nope.csv"
    raises_ptt(load_files, missing, ("text",), "label", BIN, "--train-file",
               needles=("--train-file", "nope.csv", "not found"))


def test_error_unsupported_extension(tmp_path):
    path = write(tmp_path, "d.txt", "x")
    raises_ptt(load_files, path, ("text",), "label", BIN, "--eval-file",
               needles=("--eval-file", "d.txt", ".txt", ".jsonl"))


@pytest.mark.parametrize("name,text", [("e.csv", "text,label\n"), ("e.jsonl", "\n"),
                                       ("e.json", "[]"), ("e.tsv", "")])
def test_error_empty_file(tmp_path, name, text):
    path = write(tmp_path, name, text)
    flag_needles = ("--train-file", name, "no examples")
    if name == "e.tsv":  # no header at all: reported as a missing column
        flag_needles = ("--train-file", name, "'text'", "(none)")
    raises_ptt(load_files, path, ("text",), "label", BIN, "--train-file", needles=flag_needles)


@pytest.mark.parametrize("value,where", [("postive", "line 3"), ("2", "line 3"), ("-1", "line 3")])
def test_error_bad_label_csv(tmp_path, value, where):
    path = write(tmp_path, "d.csv", f"text,label\ngood,positive\nbad,{value}\n")
    raises_ptt(load_files, path, ("text",), "label", BIN, "--train-file",
               needles=("--train-file", "d.csv", where, repr(value), "negative, positive"))


def test_error_bad_label_json_bool(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"s": "x", "l": true}\n')
    raises_ptt(load_files, path, ("s",), "l", BIN, "--eval-file",
               needles=("--eval-file", "d.jsonl line 1", "True", "negative"))


def test_error_missing_text_field_csv(tmp_path):
    path = write(tmp_path, "d.csv", "sentence,label\nx,0\n")
    raises_ptt(load_files, path, ("text",), "label", BIN, "--train-file",
               needles=("--train-file", "d.csv", "'text'", "sentence, label"))


def test_error_missing_label_field_jsonl(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"text": "ok", "label": 1}\n{"text": "x", "y": 1}\n')
    raises_ptt(load_files, path, ("text",), "label", BIN, "--train-file",
               needles=("--train-file", "d.jsonl line 2", "'label'", "text, y"))


def test_error_short_csv_row(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\nlonely\n")
    raises_ptt(load_files, path, ("text",), "label", BIN, "--train-file",
               needles=("--train-file", "d.csv line 2", "fewer columns"))


def test_error_malformed_jsonl_line(tmp_path):
    path = write(tmp_path, "d.jsonl", '{"text": "a", "label": 0}\n{"text": "b", "label": 1\n')
    raises_ptt(load_files, path, ("text",), "label", BIN, "--train-file",
               needles=("--train-file", "d.jsonl line 2", "malformed JSON"))


def test_error_malformed_json_file(tmp_path):
    path = write(tmp_path, "d.json", '[\n {"text": "a", "label": 0},\n {"text": "b" "label": 1}\n]')
    raises_ptt(load_files, path, ("text",), "label", BIN, "--eval-file",
               needles=("--eval-file", "d.json line 3", "malformed JSON"))


def test_error_json_not_objects(tmp_path):
    path = write(tmp_path, "d.json", '["just text"]')
    raises_ptt(load_files, path, ("text",), "label", BIN, "--train-file",
               needles=("--train-file", "d.json item 0", "str"))


def test_error_not_utf8(tmp_path):
    path = write(tmp_path, "d.csv", "text,label\ncaf\xe9,positive\n", encoding="latin-1")
    raises_ptt(load_files, path, ("text",), "label", BIN, "--train-file",
               needles=("--train-file", "d.csv", "not UTF-8", "0xe9"))


def test_error_data_dir_missing_file(tmp_path):
    raises_ptt(load_task_split, TASKS["rte"], "train", data_dir=tmp_path,
               needles=("--data-dir", str(tmp_path / "rte/glue_hf/train.tsv")))


def test_error_bad_label_in_data_dir(tmp_path):
    target = tmp_path / "sst2/stsa_binary/stsa.binary.dev"
    target.parent.mkdir(parents=True)
    target.write_text("1 fine film .\n7 odd label .\n", encoding="utf-8")
    raises_ptt(load_task_split, TASKS["sst2"], "eval", data_dir=tmp_path,
               needles=("--data-dir", "stsa.binary.dev line 2", "'7'", "0, 1"))


def test_error_empty_split_in_data_dir(tmp_path):
    for rel in TASKS["tweeteval"].local["eval"].files:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("", encoding="utf-8")
    raises_ptt(load_task_split, TASKS["tweeteval"], "eval", data_dir=tmp_path,
               needles=("--data-dir", "val_text.txt", "no examples"))


def test_error_unknown_split_and_source():
    raises_ptt(load_task_split, TASKS["sst2"], "test", needles=("'test'", "train, eval"))
    raises_ptt(load_task_split, TASKS["sst2"], "train", source="web", needles=("--data-source", "'web'", "hub"))


# ---------------------------------------------------------------- hub mapping (no network)

def fake_hub(monkeypatch, tables):
    """Replace datasets.load_dataset with a lookup in `tables`, keyed by (path, name, split)."""
    calls = []

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return datasets.Dataset.from_list(tables[(path, name, split)])
    monkeypatch.setattr(ptt_data.datasets, "load_dataset", load_dataset)
    return calls


def test_hub_snli_drops_unlabelled(monkeypatch):
    rows = [{"premise": "p0", "hypothesis": "h0", "label": 2},
            {"premise": "p1", "hypothesis": "h1", "label": -1},
            {"premise": "p2", "hypothesis": "h2", "label": 0}]
    calls = fake_hub(monkeypatch, {("stanfordnlp/snli", None, "validation"): rows})
    ds = load_task_split(TASKS["snli"], "eval", source="hub")
    assert calls == [("stanfordnlp/snli", None, "validation")]
    assert list(ds["text_a"]) == ["p0", "p2"] and list(ds["text_b"]) == ["h0", "h2"]
    names = [TASKS["snli"].label_names[i] for i in ds["label"]]
    assert names == ["contradiction", "entailment"]


def test_hub_rte_uses_glue_order_and_mnli_matched(monkeypatch):
    rte = [{"sentence1": "a", "sentence2": "b", "label": 1, "idx": 0}]
    mnli = [{"premise": "a", "hypothesis": "b", "label": 1, "idx": 0}]
    fake_hub(monkeypatch, {("nyu-mll/glue", "rte", "train"): rte,
                           ("nyu-mll/glue", "mnli", "validation_matched"): mnli})
    assert list(load_task_split(TASKS["rte"], "train", source="hub")["label"]) == [1]  # not_ent.
    assert list(load_task_split(TASKS["mnli"], "eval", source="hub")["label"]) == [1]  # neutral


def test_hub_imdb_cleans_html(monkeypatch):
    rows = [{"text": "Great.<br /><br />Loved it", "label": 1}]
    fake_hub(monkeypatch, {("stanfordnlp/imdb", None, "test"): rows})
    ds = load_task_split(TASKS["imdb"], "eval", source="hub")
    assert ds[0] == {"text_a": "Great.  Loved it", "text_b": "", "label": 1}


def test_hub_absa_one_row_per_aspect(monkeypatch):
    rows = [{"id": "1", "text": "Great screen, bad keys.",
             "aspects": {"term": ["screen", "keys", "price"],
                         "polarity": ["positive", "negative", "conflict"],
                         "from": [6, 18, 0], "to": [12, 22, 0]}}]
    fake_hub(monkeypatch, {("jakartaresearch/semeval-absa", "laptop", "train"): rows})
    ds = load_task_split(TASKS["laptop"], "train", source="hub")
    assert list(ds["text_b"]) == ["screen", "keys"] and list(ds["label"]) == [2, 0]
    assert set(ds["text_a"]) == {"Great screen, bad keys."}


def test_hub_failure_is_one_line_error(monkeypatch):
    def boom(*args, **kwargs):
        raise ConnectionError("no network\nsecond line")
    monkeypatch.setattr(ptt_data.datasets, "load_dataset", boom)
    raises_ptt(load_task_split, TASKS["qqp"], "train", source="hub",
               needles=("--data-source", "nyu-mll/glue", "qqp", "ConnectionError", "no network"))
