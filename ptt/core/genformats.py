"""Parsers for the generation tasks' data files, one per file format (see ptt/assets/data/SOURCES.md).

Each parser takes (path, text) and returns `GenRow`s: the template fields of one example, every reference
answer (the first is the training target) and an id. The traps of the raw files are handled here:
  - NQ-Open train pool (`topics.nq.dev.txt`): answers are a *Python* list literal (`ast.literal_eval`),
    and quotes inside answers are CSV-doubled (`""Fix You""`), which the official dev file never has;
  - SAMSum: mixed CRLF / LF turn separators, trailing spaces in summaries, no ids in the .jsonl files;
  - LongBench Multi-News: documents joined as "Passage N:\\n...", newlines kept as the token NEWLINE_CHAR,
    CRLF line ends; Multi-News+ keeps documents as list elements (its lower-casing is handled by the loader);
  - all: U+00A0 no-break spaces become spaces (the NQ train pool already had them replaced).
Errors are one-line `PttError`s naming --data-dir, the file (and line or record) and the fix.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ptt.core.files import split_lines
from ptt.errors import PttError

FLAG = "--data-dir"
# Multi-News's own document separator (the hub `document` column uses it); local files are rendered with it too.
DOC_SEPARATOR = " ||||| "
_NEWLINE_TOKEN = re.compile(r"[ \t]*NEWLINE_CHAR[ \t]*")


@dataclass
class GenRow:
    """One example: template fields, reference answers (first = training target), id, and where it came from."""
    fields: dict
    targets: list
    id: str
    where: str


def fail(where: str, problem: str, fix: str) -> PttError:
    """The one error shape of this module: flag, place, problem, fix."""
    return PttError(f"{FLAG}: {where}: {problem}; {fix}")


def clean_text(text: str) -> str:
    """CRLF/CR -> LF, U+00A0 -> space, outer whitespace stripped (SAMSum mixes CRLF and LF turns)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").strip()


def clean_document(text: str) -> str:
    """A Multi-News document: the NEWLINE_CHAR token (the release's in-document newline) -> "\\n"."""
    return clean_text(_NEWLINE_TOKEN.sub("\n", text))


def join_documents(documents: list[str]) -> str:
    """Cleaned, non-empty documents joined with Multi-News's own separator."""
    return DOC_SEPARATOR.join(doc for doc in map(clean_document, documents) if doc)


def strip_summary_dash(summary: str) -> str:
    """Raw Multi-News summaries start with "– " (LongBench and Multi-News+ already removed it)."""
    return re.sub(r"^[\u2013-]\s*", "", clean_text(summary))


def split_passages(context: str, where: str) -> list[str]:
    """LongBench's "Passage 1:\\n<doc>\\nPassage 2:\\n<doc>..." -> documents; a split happens only at the
    next expected number, so "Passage 7:" quoted inside a document stays text."""
    head = "Passage 1:\n"
    context = context.replace("\r\n", "\n")
    if not context.startswith(head):
        raise fail(where, "context does not start with 'Passage 1:'",
                   "give the LongBench multi_news.jsonl (documents joined as 'Passage N:')")
    documents, rest, number = [], context[len(head):], 2
    while True:
        document, found, rest = rest.partition(f"\nPassage {number}:\n")
        documents.append(document)
        if not found:
            return documents
        number += 1


def _text(obj: object, key: str, where: str) -> str:
    """A required non-empty string field, cleaned."""
    if not isinstance(obj, dict):
        raise fail(where, f"expected a JSON object, got {type(obj).__name__}", "fix the record")
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        found = ", ".join(obj) or "(none)"
        raise fail(where, f"field {key!r} is missing or not a non-empty string (fields: {found})",
                   "fix the record or give the file this format expects")
    return clean_text(value)


def _texts(value: object, where: str, what: str) -> list[str]:
    """A required non-empty list of non-empty strings, cleaned."""
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, str) and v.strip() for v in value)):
        raise fail(where, f"{what} must be a non-empty list of non-empty strings, got {value!r:.80}",
                   "fix the record")
    return [clean_text(v) for v in value]


def _list(obj: object, key: str, where: str) -> list:
    """A required list field (SQuAD's data / paragraphs / qas / answers)."""
    value = obj.get(key) if isinstance(obj, dict) else None
    if not isinstance(value, list):
        raise fail(where, f"no list field {key!r}", "give a SQuAD v1.1 JSON file")
    return value


def _json(path: Path, text: str) -> object:
    """One JSON document; a syntax error names the line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise fail(f"{path} line {err.lineno} column {err.colno}", f"malformed JSON ({err.msg})",
                   "fix the file or restore it from the shared data") from None


def _json_list(path: Path, text: str) -> list:
    """A JSON list of records (SAMSum train1000.json, Multi-News+)."""
    data = _json(path, text)
    if not isinstance(data, list):
        raise fail(str(path), f"top level is a JSON {type(data).__name__}, not a list of records",
                   "give a file with a JSON list of records")
    return data


def _jsonl(path: Path, text: str) -> list[tuple[int, object]]:
    """(line number, object) for each non-blank line; CRLF line ends are fine."""
    objects = []
    for number, line in enumerate(split_lines(text), start=1):
        if line.strip():
            try:
                objects.append((number, json.loads(line)))
            except json.JSONDecodeError as err:
                raise fail(f"{path} line {number}", f"malformed JSON ({err.msg})",
                           "fix that line (one JSON object per line)") from None
    return objects


def parse_squad_json(path: Path, text: str) -> list[GenRow]:
    """SQuAD v1.1 schema: data[].paragraphs[].qas[] with every gold answer kept (dev has 1-6 per question)."""
    rows = []
    for a, article in enumerate(_list(_json(path, text), "data", str(path))):
        for p, paragraph in enumerate(_list(article, "paragraphs", f"{path} data[{a}]")):
            where_p = f"{path} data[{a}].paragraphs[{p}]"
            context = _text(paragraph, "context", where_p)
            for q, qa in enumerate(_list(paragraph, "qas", where_p)):
                where = f"{where_p}.qas[{q}]"
                answers = _list(qa, "answers", where)
                if not answers:
                    raise fail(where, "question has no answers (SQuAD v2 unanswerable questions are not supported)",
                               "give SQuAD v1.1 data")
                targets = [_text(ans, "text", f"{where}.answers[{k}]") for k, ans in enumerate(answers)]
                qid = qa.get("id") or f"{path.stem}-{len(rows)}"
                rows.append(GenRow({"context": context, "question": _text(qa, "question", where)},
                                   targets, str(qid), where))
    return rows


def parse_nq_jsonl(path: Path, text: str) -> list[GenRow]:
    """NQ-open.*.jsonl: {"question", "answer": [every acceptable answer]}; no ids, so "<stem>-<line>"."""
    rows = []
    for number, obj in _jsonl(path, text):
        where = f"{path} line {number}"
        question = _text(obj, "question", where)
        answers = _texts(obj.get("answer"), where, "field 'answer'")
        rows.append(GenRow({"question": question}, answers, f"{path.stem}-{number}", where))
    return rows


def parse_nq_tsv(path: Path, text: str) -> list[GenRow]:
    """topics.nq.*.txt: "question<TAB>['answer', ...]" where the answers are a Python literal (single or double
    quotes, backslash escapes) and inner quotes are CSV-doubled (`Harold ""Hal"" Jordan`), undone here."""
    rows = []
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        where = f"{path} line {number}"
        question, tab, literal = line.rpartition("\t")
        if not tab or not question.strip():
            raise fail(where, "expected 'question<TAB>answer list'", "fix that line")
        try:
            answers = ast.literal_eval(literal.strip())
        except (ValueError, SyntaxError):
            raise fail(where, f"answers {literal.strip()!r:.80} are not a Python list literal",
                       "fix that line (e.g. ['an answer', \"it's another\"])") from None
        answers = _texts(answers, where, "the answer list")
        rows.append(GenRow({"question": clean_text(question)}, [a.replace('""', '"') for a in answers],
                           f"{path.stem}-{number}", where))
    return rows


def parse_samsum_json(path: Path, text: str) -> list[GenRow]:
    """SAMSum original schema, a JSON list of {"id", "summary", "dialogue"}."""
    rows = []
    for i, obj in enumerate(_json_list(path, text)):
        where = f"{path} item {i}"
        rows.append(GenRow({"dialogue": _text(obj, "dialogue", where)}, [_text(obj, "summary", where)],
                           _text(obj, "id", where), where))
    return rows


def parse_samsum_jsonl(path: Path, text: str) -> list[GenRow]:
    """SAMSum re-keyed JSON lines {"context": dialogue, "response": summary}; no ids, so "<stem>-<line>"."""
    rows = []
    for number, obj in _jsonl(path, text):
        where = f"{path} line {number}"
        rows.append(GenRow({"dialogue": _text(obj, "context", where)}, [_text(obj, "response", where)],
                           f"{path.stem}-{number}", where))
    return rows


def parse_longbench_jsonl(path: Path, text: str) -> list[GenRow]:
    """LongBench multi_news.jsonl: "Passage N:" documents with NEWLINE_CHAR tokens, answers = [summary]."""
    rows = []
    for number, obj in _jsonl(path, text):
        where = f"{path} line {number}"
        document = join_documents(split_passages(_text(obj, "context", where), where))
        if not document:
            raise fail(where, "all passages are empty", "fix that line")
        answers = _texts(obj.get("answers"), where, "field 'answers'")
        rows.append(GenRow({"document": document}, answers, str(obj.get("_id") or f"{path.stem}-{number}"), where))
    return rows


def parse_multinews_plus_json(path: Path, text: str) -> list[GenRow]:
    """Multi-News+ cleansed_data_cot_*.json: raw_document (list, the uncleansed documents, like the eval set's),
    summary, idx. The text is a lower-cased derived version; the loader lower-cases the eval source to match."""
    rows = []
    for i, obj in enumerate(_json_list(path, text)):
        where = f"{path} item {i}"
        summary = strip_summary_dash(_text(obj, "summary", where))
        documents = _texts(obj.get("raw_document"), where, "field 'raw_document'")
        rows.append(GenRow({"document": join_documents(documents)}, [summary],
                           str(obj.get("idx", f"{path.stem}-{i}")), where))
    return rows


PARSERS = {
    "squad_json": parse_squad_json,
    "nq_jsonl": parse_nq_jsonl,
    "nq_tsv": parse_nq_tsv,
    "samsum_json": parse_samsum_json,
    "samsum_jsonl": parse_samsum_jsonl,
    "longbench_jsonl": parse_longbench_jsonl,
    "multinews_plus_json": parse_multinews_plus_json,
}
