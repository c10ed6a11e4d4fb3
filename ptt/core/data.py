"""Load task splits and user files into one shape: Dataset(text_a: str, text_b: str, label: int).

Loading only: no tokenization, no model code. Every reader turns its file into `_Row`s that keep
the raw label and where the row came from, and `_to_dataset` maps labels to indices into
`task.label_names`, so a bad label is reported with its file and line.
"""
from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import datasets

from ptt.core.files import default_data_dir, hub_split, read_text, split_lines
from ptt.core.tasks import TaskSpec
from ptt.errors import PttError

FEATURES = datasets.Features({"text_a": datasets.Value("string"),
                              "text_b": datasets.Value("string"),
                              "label": datasets.Value("int64")})
# Hub labels that mean "no gold label": SNLI uses -1, SemEval ABSA exports keep "conflict".
_HUB_DROP = (-1, "conflict")
SPLITS = ("train", "eval")

# IMDB reviews are long; the csv module's default 128 KiB field limit is too small for some files.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass
class _Row:
    """One example before label mapping; `where` says "file line N" for error messages."""
    a: str
    b: str
    label: object
    where: str


def load_task_split(task: TaskSpec, split: str, data_dir: str | Path | None = None,
                    source: str = "local") -> datasets.Dataset:
    """Load split "train" or "eval" of a task, from local files or from the Hugging Face hub."""
    if split not in SPLITS:
        raise PttError(f"split: unknown split {split!r}; use one of: {', '.join(SPLITS)}")
    if source == "hub":
        return _load_hub(task, split)
    if source != "local":
        raise PttError(f"--data-source: unknown value {source!r}; use 'local' or 'hub'")
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    spec = task.local[split]
    paths = [root / rel for rel in spec.files]
    texts = [read_text(path, "--data-dir") for path in paths]
    rows = _PARSERS[spec.format](paths, texts)
    return _to_dataset(rows, task.label_names, spec.label_map, paths[0], "--data-dir")


def load_files(path, text_fields: tuple[str, ...], label_field: str,
               label_names: tuple[str, ...], flag: str) -> datasets.Dataset:
    """Load a user's .csv/.tsv/.json/.jsonl file; labels may be names or indices."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".tsv", ".json", ".jsonl"):
        raise PttError(f"{flag}: {path} has unsupported type {suffix or '(none)'!r}; "
                       "use a .csv, .tsv, .json or .jsonl file")
    text = read_text(path, flag)
    if suffix in (".csv", ".tsv"):
        delimiter = "\t" if suffix == ".tsv" else ","
        rows = _table_rows(path, text, delimiter, csv.QUOTE_MINIMAL, text_fields, label_field, flag)
    else:
        objects = _json_objects(path, text, suffix, flag)
        rows = [_object_row(obj, where, text_fields, label_field, flag) for where, obj in objects]
    return _to_dataset(rows, label_names, None, path, flag)


# ---------------------------------------------------------------- reading and label mapping


def _to_dataset(rows: list[_Row], label_names: tuple[str, ...], label_map: dict | None,
                path: Path, flag: str) -> datasets.Dataset:
    """Map raw labels to indices and build the Dataset; an empty file is an error."""
    if not rows:
        raise PttError(f"{flag}: {path} has no examples; give a file with at least one labelled row")
    labels = [_label_index(row, label_names, label_map, flag) for row in rows]
    return datasets.Dataset.from_dict(
        {"text_a": [r.a for r in rows], "text_b": [r.b for r in rows], "label": labels},
        features=FEATURES)


def _label_index(row: _Row, label_names: tuple[str, ...], label_map: dict | None, flag: str) -> int:
    """Raw label -> index. With a label_map only its keys are valid (the file's own scheme);
    otherwise a label name or its index (int or digit string) is accepted."""
    raw = row.label.strip() if isinstance(row.label, str) else row.label
    if label_map is not None:
        if isinstance(raw, str) and raw in label_map:
            return label_names.index(label_map[raw])
        allowed = ", ".join(label_map)
    else:
        if isinstance(raw, str) and raw in label_names:
            return label_names.index(raw)
        index = int(raw) if isinstance(raw, str) and raw.isdigit() else raw
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(label_names):
            return index
        allowed = ", ".join(label_names) + f" (or an index 0-{len(label_names) - 1})"
    raise PttError(f"{flag}: {row.where}: label {row.label!r} is not a label of this task; "
                   f"use one of: {allowed}")


# ---------------------------------------------------------------- tables (csv / tsv)

def _table_rows(path: Path, text: str, delimiter: str, quoting: int, text_fields: tuple[str, ...],
                label_field: str, flag: str) -> list[_Row]:
    """Rows of a delimited file with a header line, picking the named columns."""
    # newline="" lets csv handle quoted newlines; str.splitlines would also split on \x85 etc.
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, quoting=quoting)
    columns = reader.fieldnames or []
    for name in (*text_fields, label_field):
        if name not in columns:
            raise PttError(f"{flag}: {path}: no column {name!r}; columns found: "
                           f"{', '.join(columns) or '(none)'}; fix the header or the field name")
    rows = []
    for record in reader:
        where = f"{path} line {reader.line_num}"
        values = [record[name] for name in (*text_fields, label_field)]
        if any(value is None for value in values):
            raise PttError(f"{flag}: {where}: row has fewer columns than the header "
                           f"({', '.join(columns)}); fix the row or the delimiter")
        rows.append(_Row(values[0], values[1] if len(text_fields) > 1 else "", values[-1], where))
    return rows


# ---------------------------------------------------------------- json / jsonl

def _json_objects(path: Path, text: str, suffix: str, flag: str) -> list[tuple[str, object]]:
    """(where, object) pairs from a json list, a json dict of objects, or one object per line."""
    if not text.strip():
        return []
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            if not err.msg.startswith("Extra data"):  # "Extra data" = several values: json lines
                raise PttError(f"{flag}: {path} line {err.lineno}: malformed JSON ({err.msg}); "
                               "fix the file (a list of objects or one object per line)") from None
        else:
            if isinstance(data, list):
                return [(f"{path} item {i}", obj) for i, obj in enumerate(data)]
            if isinstance(data, dict) and all(isinstance(v, dict) for v in data.values()):
                return [(f"{path} key {key!r}", obj) for key, obj in data.items()]
            if isinstance(data, dict):  # a single object: one example
                return [(f"{path} line 1", data)]
            raise PttError(f"{flag}: {path}: top-level JSON is a {type(data).__name__}; "
                           "use a list of objects or one object per line")
    return _jsonl_objects(path, text, flag)


def _jsonl_objects(path: Path, text: str, flag: str) -> list[tuple[str, object]]:
    """Parse one JSON object per line ourselves, so errors can give the line number."""
    objects = []
    for number, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        try:
            objects.append((f"{path} line {number}", json.loads(line)))
        except json.JSONDecodeError as err:
            raise PttError(f"{flag}: {path} line {number}: malformed JSON ({err.msg}); "
                           "fix that line (one JSON object per line)") from None
    return objects


def _object_row(obj: object, where: str, text_fields: tuple[str, ...], label_field: str,
                flag: str) -> _Row:
    """One json object -> _Row; missing fields name the field and the keys that were found."""
    if not isinstance(obj, dict):
        raise PttError(f"{flag}: {where}: expected a JSON object, got {type(obj).__name__}; "
                       "each example must be an object with text and label fields")
    for name in (*text_fields, label_field):
        if obj.get(name) is None:
            raise PttError(f"{flag}: {where}: no field {name!r}; fields found: "
                           f"{', '.join(obj) or '(none)'}; fix the data or the field name")
    texts = [str(obj[name]) for name in text_fields]
    return _Row(texts[0], texts[1] if len(texts) > 1 else "", obj[label_field], where)


# ---------------------------------------------------------------- shared-data formats

def _parse_stsa(paths: list[Path], texts: list[str]) -> list[_Row]:
    """stsa.binary.*: "LABEL SENTENCE", the first character is the label."""
    rows = []
    for number, line in enumerate(split_lines(texts[0]), start=1):
        if line.strip():
            label, _, sentence = line.partition(" ")
            rows.append(_Row(sentence, "", label, f"{paths[0]} line {number}"))
    return rows


def _parse_sentence_tsv(paths: list[Path], texts: list[str]) -> list[_Row]:
    """MR glue_pretrain: header "sentence<TAB>label", csv-quoted (written by pandas)."""
    return _table_rows(paths[0], texts[0], "\t", csv.QUOTE_MINIMAL, ("sentence",), "label",
                       "--data-dir")


def _parse_glue_hf_tsv(paths: list[Path], texts: list[str]) -> list[_Row]:
    """RTE glue_hf: "sentence1<TAB>sentence2<TAB>label<TAB>idx", csv-quoted."""
    return _table_rows(paths[0], texts[0], "\t", csv.QUOTE_MINIMAL, ("sentence1", "sentence2"),
                       "label", "--data-dir")


def _parse_mrpc_tsv(paths: list[Path], texts: list[str]) -> list[_Row]:
    """MRPC original GLUE: unbalanced quote characters in the text, so no quoting at all."""
    return _table_rows(paths[0], texts[0], "\t", csv.QUOTE_NONE, ("#1 String", "#2 String"),
                       "Quality", "--data-dir")


def _parse_json_dict(paths: list[Path], texts: list[str], fields: tuple[str, ...]) -> list[_Row]:
    """A json dict of objects ({"0": {...}, ...}), as in glue_pretrain and aclImdb_usb."""
    objects = _json_objects(paths[0], texts[0], ".json", "--data-dir")
    return [_object_row(obj, where, fields, "label", "--data-dir") for where, obj in objects]


def _parse_pretrain_json(paths: list[Path], texts: list[str]) -> list[_Row]:
    """glue_pretrain: {"i": {"text_a", "text_b", "label"}}."""
    return _parse_json_dict(paths, texts, ("text_a", "text_b"))


def _parse_imdb_json(paths: list[Path], texts: list[str]) -> list[_Row]:
    """aclImdb_usb: {"i": {"ori", "label"}}; raw reviews keep HTML line breaks."""
    rows = _parse_json_dict(paths, texts, ("ori",))
    for row in rows:
        row.a = _clean_text(row.a)
    return rows


def _parse_absa_seg(paths: list[Path], texts: list[str]) -> list[_Row]:
    """ABSA-PyTorch xml.seg: 3 lines per example (sentence with $T$, aspect, polarity)."""
    lines = split_lines(texts[0])
    if len(lines) % 3:
        raise PttError(f"--data-dir: {paths[0]} has {len(lines)} lines, not a multiple of 3; "
                       "each example is sentence, aspect, polarity")
    rows = []
    for start in range(0, len(lines), 3):
        sentence, aspect, polarity = (line.strip() for line in lines[start:start + 3])
        rows.append(_Row(sentence.replace("$T$", aspect), aspect, polarity,
                         f"{paths[0]} line {start + 3}"))
    return rows


def _parse_parallel_lines(paths: list[Path], texts: list[str]) -> list[_Row]:
    """TweetEval: a text file and a label file, line i of one matches line i of the other."""
    sentences, labels = split_lines(texts[0]), split_lines(texts[1])
    if len(sentences) != len(labels):
        raise PttError(f"--data-dir: {paths[0]} has {len(sentences)} lines but {paths[1]} has "
                       f"{len(labels)}; the text and label files must be parallel")
    return [_Row(text.strip(), "", label, f"{paths[1]} line {number}")
            for number, (text, label) in enumerate(zip(sentences, labels), start=1)]


_PARSERS = {
    "stsa": _parse_stsa,
    "sentence_tsv": _parse_sentence_tsv,
    "glue_hf_tsv": _parse_glue_hf_tsv,
    "mrpc_tsv": _parse_mrpc_tsv,
    "pretrain_json": _parse_pretrain_json,
    "imdb_json": _parse_imdb_json,
    "absa_seg": _parse_absa_seg,
    "parallel_lines": _parse_parallel_lines,
}


def _clean_text(text: str) -> str:
    """IMDB reviews contain HTML line breaks; a space keeps the words apart."""
    return text.replace("<br />", " ")


# ---------------------------------------------------------------- hub

def _load_hub(task: TaskSpec, split: str) -> datasets.Dataset:
    """datasets.load_dataset(hf_path, hf_name) mapped to text_a/text_b/label like the local files."""
    hf_split = task.hf_splits[split]
    raw = hub_split(task.hf_path, task.hf_name, hf_split)
    rows = []
    for number, example in enumerate(raw):
        for values in _hub_values(example, (*task.hf_fields, task.hf_label_field)):
            *texts, label = values
            if label in _HUB_DROP:
                continue
            if isinstance(label, int) and 0 <= label < len(task.hf_label_names):
                label = task.hf_label_names[label]
            texts = [_clean_text(str(text)) for text in texts]
            rows.append(_Row(texts[0], texts[1] if len(texts) > 1 else "", label,
                             f"{task.hf_path} {hf_split} row {number}"))
    return _to_dataset(rows, task.label_names, None, Path(task.hf_path), "--data-source hub")


def _hub_values(example: dict, fields: tuple[str, ...]) -> list[list]:
    """Field values of one hub row; "parent.child" reads a list inside a struct column and
    yields one row per list element (ABSA: one row per aspect term of a sentence)."""
    values = []
    for name in fields:
        value = example
        for part in name.split("."):
            value = value[part]
        values.append(value)
    lists = [v for v in values if isinstance(v, list)]
    if not lists:
        return [values]
    return [[v[j] if isinstance(v, list) else v for v in values] for j in range(len(lists[0]))]
