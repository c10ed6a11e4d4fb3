"""Tests for the generation task table and loaders (ptt.core.generation, ptt.core.genformats).

Packaged-slice tests never skip; only the full-data tests skip when /work/shared/data is absent. Every trap of
SOURCES.md that a parser handles is checked on a small hand-made file in the same layout under tmp_path.
"""
import json
from pathlib import Path

import datasets
import pytest

from ptt.core.data import default_data_dir
from ptt.core.generation import (GENERATION_TASKS, GenTaskSpec, get_generation_task,
                                 load_generation_split)
from ptt.core.genformats import DOC_SEPARATOR
from ptt.core.textmetrics import METRICS
from tests.helpers import raises_ptt

SHARED = Path("/work/shared/data")
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="full data /work/shared/data absent")

PACKAGED_COUNTS = {("squad", "train"): 413, ("squad", "eval"): 303, ("squad", "eval_full"): 404,
                   ("nq_open", "train"): 500, ("nq_open", "eval"): 300,
                   ("samsum", "train"): 200, ("samsum", "eval"): 150,
                   ("multi_news", "train"): 20, ("multi_news", "eval"): 15}
FULL_COUNTS = {("squad", "train"): 11877, ("squad", "eval"): 4961, ("squad", "eval_full"): 10570,
               ("nq_open", "train"): 8757, ("nq_open", "eval"): 3610,
               ("samsum", "train"): 1000, ("samsum", "eval"): 818,
               ("multi_news", "train"): 100, ("multi_news", "eval"): 200}

SQUAD_TRAIN = "squad/train_pool_official_train_first44articles/test-v1.1.json"
SQUAD_DEV_A = "squad/official_dev_half_a/dev-v1.1.json"
NQ_TRAIN = "nq_open/train_pool_orqa_heldout_from_nq_train/topics.nq.dev.txt"
NQ_DEV = "nq_open/official_dev/NQ-open.dev.jsonl"
SAMSUM_TRAIN = "samsum/train_pool_official_train_first1000/train1000.json"
SAMSUM_VAL = "samsum/official_validation/validation.jsonl"
MN_TRAIN = "multi_news/multinews_plus_train_0_99/cleansed_data_cot_0_100.json"
MN_EVAL = "multi_news/longbench_test200/multi_news.jsonl"


def write(root: Path, rel: str, content) -> Path:
    """Write str (as UTF-8, newlines untouched) or bytes to root/rel."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def squad_file(qas, context="Paris is the capital of France.") -> str:
    """A one-article SQuAD v1.1 file, serialized like the originals (one line, ASCII)."""
    return json.dumps({"data": [{"title": "T", "paragraphs": [{"context": context, "qas": qas}]}],
                       "version": "1.1"})


# ---------------------------------------------------------------- table

def test_table_has_the_four_paper_tasks():
    assert list(GENERATION_TASKS) == ["squad", "nq_open", "samsum", "multi_news"]
    for task in GENERATION_TASKS.values():
        assert isinstance(task, GenTaskSpec)
        assert task.type == ("qa" if task.name in ("squad", "nq_open") else "summarization")
        assert task.primary_metric in task.metrics
        assert set(task.metrics) <= set(METRICS)
        assert {"train", "eval"} <= set(task.local)
        assert task.max_new_tokens > 0
        assert task.max_source_tokens == (384 if task.name == "multi_news" else None)
        assert set(task.hf_splits) == set(task.local)
        assert {name for name, _ in task.hf_fields} == set(task.source_fields)
    assert GENERATION_TASKS["squad"].source_fields == ("question", "context")
    with pytest.raises(Exception):
        GENERATION_TASKS["squad"].name = "x"  # frozen


def test_hub_names_documented():
    squad, nq, samsum, news = (GENERATION_TASKS[n] for n in ("squad", "nq_open", "samsum", "multi_news"))
    assert (squad.hf_path, squad.hf_splits["eval"], squad.hf_target_field) == ("rajpurkar/squad", "validation",
                                                                              "answers.text")
    assert (nq.hf_path, nq.hf_name, nq.hf_target_field) == ("google-research-datasets/nq_open", "nq_open", "answer")
    assert (samsum.hf_path, samsum.hf_target_field, samsum.hf_id_field) == ("Samsung/samsum", "summary", "id")
    assert (news.hf_path, news.hf_splits, news.hf_format) == ("alexfabbri/multi_news",
                                                               {"train": "train", "eval": "test"}, "multi_news")


def test_unknown_task_names_flag_and_choices():
    raises_ptt(get_generation_task, "squad2", needles=("--task", "squad2", "squad, nq_open, samsum, multi_news"))
    raises_ptt(load_generation_split, "sst2", "train", needles=("--task", "sst2"))


def test_unknown_split_and_source():
    raises_ptt(load_generation_split, "samsum", "test", needles=("split", "'test'", "train, eval"))
    raises_ptt(load_generation_split, "samsum", "train", source="web", needles=("--data-source", "web"))


def test_render_uses_the_template():
    task = get_generation_task("squad")
    assert task.render({"question": "Q?", "context": "C."}) == "question: Q? context: C."


# ---------------------------------------------------------------- packaged slices

@pytest.mark.parametrize("task_name,split", list(PACKAGED_COUNTS))
def test_packaged_slice_loads(task_name, split):
    task = get_generation_task(task_name)
    ds = load_generation_split(task, split)
    assert isinstance(ds, datasets.Dataset)
    assert ds.column_names == ["source", "targets", "id"]
    assert len(ds) == PACKAGED_COUNTS[(task_name, split)]
    prefix = task.template.split("{")[0]
    assert all(source.startswith(prefix) and len(source) > len(prefix) for source in ds["source"])
    assert all(targets and all(t and t == t.strip() for t in targets) for targets in ds["targets"])
    assert all("\r" not in s and "\u00a0" not in s for s in ds["source"])
    assert len(set(ds["id"])) == len(ds)


def test_packaged_slices_live_in_the_default_dir():
    root = default_data_dir()
    for task in GENERATION_TASKS.values():
        for spec in task.local.values():
            for rel in spec.files:
                assert (root / rel).is_file(), rel
    for name in GENERATION_TASKS:  # small slices: the full data is read with --data-dir
        assert sum(p.stat().st_size for p in (root / name).rglob("*") if p.is_file()) < 1.5 * 2**20, name


def test_squad_dev_keeps_every_reference():
    ds = load_generation_split("squad", "eval")
    first = ds[0]
    assert first["id"] == "56be4db0acb8001400a502ec"
    assert first["targets"] == ["Denver Broncos"] * 3
    assert first["source"].startswith("question: Which NFL team represented the AFC at Super Bowl 50? context: Super")
    assert max(len(t) for t in ds["targets"]) >= 3
    assert "\\u2013" not in first["source"] and "24–10" in first["source"]  # \u escapes decoded


def test_squad_train_single_answer_and_eval_full_is_both_halves():
    train = load_generation_split("squad", "train")
    assert {len(t) for t in train["targets"]} == {1}
    half_a = load_generation_split("squad", "eval")
    full = load_generation_split("squad", "eval_full")
    assert full["id"][:len(half_a)] == half_a["id"]
    assert not set(full["id"][len(half_a):]) & set(half_a["id"])
    assert not set(train["id"]) & set(full["id"])


def test_nq_open_multiple_answers_kept():
    dev = load_generation_split("nq_open", "eval")
    assert dev[0]["source"] == "question: when was the last time anyone was on the moon"
    assert dev[0]["targets"] == ["14 December 1972 UTC", "December 1972"]
    assert dev[0]["id"] == "NQ-open.dev-1"
    assert sum(len(t) > 1 for t in dev["targets"]) > 100
    train = load_generation_split("nq_open", "train")
    row = train[31]  # line 32: a Python literal mixing '...' and "..." quoting
    assert row["targets"] == ["Château de Chambord", "the Loc-Dieu Abbey", "the Ingres Museum", "Château d'Amboise"]


def test_samsum_packaged():
    train = load_generation_split("samsum", "train")
    assert train[0]["id"] == "13818513"
    assert train[0]["source"] == ("summarize: Amanda: I baked  cookies. Do you want some?\nJerry: Sure!\n"
                                  "Amanda: I'll bring you tomorrow :-)")
    assert train[1]["targets"] == ["Olivia and Olivier are voting for liberals in this election."]
    val = load_generation_split("samsum", "eval")
    assert val["id"][:2] == ["validation-1", "validation-2"]
    assert val[0]["source"].startswith("summarize: A: Hi Tom, are you busy tomorrow’s afternoon?\nB: ")


def test_multi_news_packaged():
    train = load_generation_split("multi_news", "train")
    evals = load_generation_split("multi_news", "eval")
    for ds in (train, evals):
        assert all(s == s.lower() for s in ds["source"])  # both sides lower-cased (Multi-News+ is derived text)
        assert not any("newline_char" in s or "passage 1:" in s for s in ds["source"])
        assert sum(DOC_SEPARATOR in s for s in ds["source"]) > len(ds) // 2
    assert evals[0]["targets"][0].startswith("The Occupy LA encampment")  # references keep their case
    assert train[0]["id"] == "0"
    assert not any(t[0].startswith("–") for t in list(train["targets"]) + list(evals["targets"]))


# ---------------------------------------------------------------- full shared data

@needs_shared
@pytest.mark.parametrize("task_name,split", list(FULL_COUNTS))
def test_full_shared_data_loads(task_name, split):
    ds = load_generation_split(task_name, split, data_dir=SHARED)
    assert len(ds) == FULL_COUNTS[(task_name, split)]
    assert all(ds["targets"])


@needs_shared
def test_full_squad_dev_has_up_to_six_answers():
    ds = load_generation_split("squad", "eval_full", data_dir=str(SHARED))
    assert max(len(t) for t in ds["targets"]) == 6


# ---------------------------------------------------------------- traps, on hand-made files

def test_nq_train_python_literal_answers(tmp_path):
    lines = ["q one\t['single']",
             "q two\t[\"it's double\", 'plain']",
             "q three\t['escaped \\'quote\\'', '45\\u200a1⁄2 hours']",
             "q four\t['Harold \"\"Hal\"\" Jordan', '\"\"Nelson\\'s Sparrow\"\"']",
             ""]
    write(tmp_path, NQ_TRAIN, "\n".join(lines))
    ds = load_generation_split("nq_open", "train", data_dir=tmp_path)
    assert ds["targets"] == [["single"], ["it's double", "plain"], ["escaped 'quote'", "45\u200a1⁄2 hours"],
                             ['Harold "Hal" Jordan', '"Nelson\'s Sparrow"']]
    assert ds["source"][0] == "question: q one"
    assert ds["id"] == ["topics.nq.dev-1", "topics.nq.dev-2", "topics.nq.dev-3", "topics.nq.dev-4"]


def test_nq_train_bad_lines(tmp_path):
    path = write(tmp_path, NQ_TRAIN, "ok\t['a']\nbad\t[not python\n")
    raises_ptt(load_generation_split, "nq_open", "train", data_dir=tmp_path,
               needles=("--data-dir", str(path), "line 2", "Python list literal"))
    write(tmp_path, NQ_TRAIN, "no tab here ['a']\n")
    raises_ptt(load_generation_split, "nq_open", "train", data_dir=tmp_path, needles=("line 1", "TAB"))
    write(tmp_path, NQ_TRAIN, "q\t'not a list'\n")
    raises_ptt(load_generation_split, "nq_open", "train", data_dir=tmp_path, needles=("line 1", "non-empty list"))
    write(tmp_path, NQ_TRAIN, "q\t[]\n")
    raises_ptt(load_generation_split, "nq_open", "train", data_dir=tmp_path, needles=("line 1",))


def test_nq_dev_jsonl_no_break_spaces_and_crlf(tmp_path):
    rows = [{"question": "who won", "answer": ["Team\u00a0A", "A"]}, {"question": "when", "answer": ["1990"]}]
    write(tmp_path, NQ_DEV, "\r\n".join(json.dumps(r) for r in rows) + "\r\n")
    ds = load_generation_split("nq_open", "eval", data_dir=tmp_path)
    assert ds["targets"] == [["Team A", "A"], ["1990"]]
    write(tmp_path, NQ_DEV, json.dumps(rows[0]) + "\n" + '{"question": "x", "answer": "not a list"}\n')
    raises_ptt(load_generation_split, "nq_open", "eval", data_dir=tmp_path, needles=("line 2", "'answer'"))
    write(tmp_path, NQ_DEV, '{"question": "x", "answer": ["a"]}\n{"question": \n')
    raises_ptt(load_generation_split, "nq_open", "eval", data_dir=tmp_path, needles=("line 2", "malformed JSON"))


def test_squad_multiple_and_duplicate_answers(tmp_path):
    qas = [{"answers": [{"answer_start": 0, "text": "Paris"}, {"answer_start": 0, "text": "Paris"},
                        {"answer_start": 0, "text": " Paris "}], "id": "q1", "question": "Capital?"}]
    write(tmp_path, SQUAD_DEV_A, squad_file(qas))
    ds = load_generation_split("squad", "eval", data_dir=tmp_path)
    assert ds[0] == {"source": "question: Capital? context: Paris is the capital of France.",
                     "targets": ["Paris", "Paris", "Paris"], "id": "q1"}


def test_squad_bad_files(tmp_path):
    path = write(tmp_path, SQUAD_TRAIN, squad_file([{"answers": [], "id": "q", "question": "Why?"}]))
    raises_ptt(load_generation_split, "squad", "train", data_dir=tmp_path,
               needles=(str(path), "data[0].paragraphs[0].qas[0]", "no answers", "SQuAD v1.1"))
    write(tmp_path, SQUAD_TRAIN, json.dumps({"version": "1.1"}))
    raises_ptt(load_generation_split, "squad", "train", data_dir=tmp_path, needles=(str(path), "'data'"))
    write(tmp_path, SQUAD_TRAIN, '{"data": [')
    raises_ptt(load_generation_split, "squad", "train", data_dir=tmp_path,
               needles=(str(path), "line 1 column", "malformed JSON"))
    write(tmp_path, SQUAD_TRAIN, squad_file([{"answers": [{"text": "x"}], "id": "q"}]))
    raises_ptt(load_generation_split, "squad", "train", data_dir=tmp_path, needles=("qas[0]", "'question'"))


def test_samsum_mixed_line_separators_and_trailing_spaces(tmp_path):
    records = [{"id": "1", "summary": "A greets B. ", "dialogue": "A: hi\r\nB: hello\r\nA: bye"},
               {"id": "2", "summary": "B sends <file_photo>.", "dialogue": "B: <file_photo>\nA: nice"}]
    write(tmp_path, SAMSUM_TRAIN, json.dumps(records))
    ds = load_generation_split("samsum", "train", data_dir=tmp_path)
    assert ds["source"] == ["summarize: A: hi\nB: hello\nA: bye", "summarize: B: <file_photo>\nA: nice"]
    assert ds["targets"] == [["A greets B."], ["B sends <file_photo>."]]
    assert ds["id"] == ["1", "2"]


def test_samsum_jsonl_without_ids(tmp_path):
    lines = [json.dumps({"context": "A: x\r\nB: y", "response": "They talk. "}),
             json.dumps({"context": "C: z", "response": "C speaks."})]
    write(tmp_path, SAMSUM_VAL, "\n".join(lines) + "\n")
    ds = load_generation_split("samsum", "eval", data_dir=tmp_path)
    assert ds["id"] == ["validation-1", "validation-2"]
    assert ds["source"][0] == "summarize: A: x\nB: y" and ds["targets"][0] == ["They talk."]
    path = write(tmp_path, SAMSUM_VAL, lines[0] + "\n" + json.dumps({"dialogue": "D", "summary": "S"}) + "\n")
    raises_ptt(load_generation_split, "samsum", "eval", data_dir=tmp_path,
               needles=(str(path), "line 2", "'context'", "dialogue, summary"))


def test_samsum_json_not_a_list(tmp_path):
    path = write(tmp_path, SAMSUM_TRAIN, json.dumps({"id": "1", "summary": "s", "dialogue": "d"}))
    raises_ptt(load_generation_split, "samsum", "train", data_dir=tmp_path, needles=(str(path), "not a list"))


def longbench_line(context, summary="Summary one.", _id="abc"):
    return json.dumps({"input": "", "context": context, "answers": [summary], "length": 10,
                       "dataset": "multi_news", "language": "en", "all_classes": None, "_id": _id})


def test_longbench_passages_newline_char_and_crlf(tmp_path):
    context = ("Passage 1:\nFirst DOC. NEWLINE_CHAR NEWLINE_CHAR Second paragraph.\n"
               "Passage 2:\nIt cites Passage 7:\nas text.\nPassage 3:\nThird.")
    write(tmp_path, MN_EVAL, (longbench_line(context) + "\r\n" + longbench_line("Passage 1:\nOnly.", _id="d")
                              + "\r\n").encode("utf-8"))
    ds = load_generation_split("multi_news", "eval", data_dir=tmp_path)
    assert ds["source"][0] == ("summarize: first doc.\n\nsecond paragraph." + DOC_SEPARATOR
                               + "it cites passage 7:\nas text." + DOC_SEPARATOR + "third.")
    assert ds["source"][1] == "summarize: only."
    assert ds["targets"] == [["Summary one."], ["Summary one."]] and ds["id"] == ["abc", "d"]


def test_longbench_without_passage_markers(tmp_path):
    path = write(tmp_path, MN_EVAL, longbench_line("doc one ||||| doc two") + "\n")
    raises_ptt(load_generation_split, "multi_news", "eval", data_dir=tmp_path,
               needles=(str(path), "line 1", "Passage 1:"))


def test_multinews_plus_documents_lower_cased(tmp_path):
    records = [{"idx": 7, "document_num": 1, "summary": "– Wall Street fell 8.2 %.", "split": "train",
                "cleansed_document": ["Doc A."], "raw_document": ["Doc A. ( ap )", "Wayback Doc B."],
                "reasons": [], "vote_count": {"0": 0, "1": 3}}]
    write(tmp_path, MN_TRAIN, json.dumps(records, indent=4))
    ds = load_generation_split("multi_news", "train", data_dir=tmp_path)
    assert ds[0] == {"source": "summarize: doc a. ( ap )" + DOC_SEPARATOR + "wayback doc b.",
                     "targets": ["Wall Street fell 8.2 %."], "id": "7"}
    records[0]["raw_document"] = []
    write(tmp_path, MN_TRAIN, json.dumps(records))
    raises_ptt(load_generation_split, "multi_news", "train", data_dir=tmp_path,
               needles=("item 0", "'raw_document'"))


def test_missing_empty_and_non_utf8_files(tmp_path):
    raises_ptt(load_generation_split, "samsum", "eval", data_dir=tmp_path,
               needles=("--data-dir", "file not found", str(tmp_path / SAMSUM_VAL)))
    path = write(tmp_path, SAMSUM_VAL, "\n\n")
    raises_ptt(load_generation_split, "samsum", "eval", data_dir=tmp_path,
               needles=("--data-dir", str(path), "no examples"))
    path = write(tmp_path, NQ_TRAIN, b"caf\xe9\t['x']\n")
    raises_ptt(load_generation_split, "nq_open", "train", data_dir=tmp_path, needles=(str(path), "UTF-8"))


# ---------------------------------------------------------------- hub (no network: load_dataset is replaced)

def test_hub_rows_are_cleaned_like_local(monkeypatch):
    tables = {
        "alexfabbri/multi_news": {"document": ["Doc one. NEWLINE_CHAR NEWLINE_CHAR More. ||||| Doc two.", ""],
                                  "summary": ["– A summary.", "– Skipped: empty input."]},
        "rajpurkar/squad": {"id": ["q1"], "context": ["C."], "question": ["Q?"],
                            "answers": [{"text": ["a", "b"], "answer_start": [0, 1]}]},
    }
    calls = []

    def fake_load(path, name=None, split=None):
        calls.append((path, name, split))
        return datasets.Dataset.from_dict(tables[path])

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    news = load_generation_split("multi_news", "eval", source="hub")
    assert news["source"] == ["summarize: Doc one.\n\nMore." + DOC_SEPARATOR + "Doc two."]
    assert news["targets"] == [["A summary."]] and news["id"] == ["test-0"]
    squad = load_generation_split("squad", "eval", source="hub")
    assert squad[0] == {"source": "question: Q? context: C.", "targets": ["a", "b"], "id": "q1"}
    assert calls == [("alexfabbri/multi_news", None, "test"), ("rajpurkar/squad", None, "validation")]


def test_hub_failure_is_one_line(monkeypatch):
    def fake_load(*args, **kwargs):
        raise ConnectionError("no network\nsecond line")

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    raises_ptt(load_generation_split, "nq_open", "train", source="hub",
               needles=("--data-source hub", "google-research-datasets/nq_open", "no network"))
