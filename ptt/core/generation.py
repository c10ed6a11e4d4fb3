"""The generation tasks of Su et al. (2022): their table and their loaders.

Four tasks: SQuAD (context + question -> extractive answer), NQ-Open (closed-book question -> answer), SAMSum
(dialogue -> summary) and Multi-News (documents -> summary). `load_generation_split` returns
Dataset(source: str, targets: list[str], id: str): `source` is the task template rendered with the example's
fields, `targets` holds every reference (the first one is the training target), `id` names the example.
The file formats and their traps are parsed in `ptt.core.genformats`; the data layout is the one of
ptt/assets/data (small packaged slices) and of the full shared data (`--data-dir`), see its SOURCES.md.
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

from ptt.core.files import default_data_dir, hub_split, read_text
from ptt.core.genformats import PARSERS, GenRow, clean_text, join_documents, strip_summary_dash
from ptt.errors import PttError

QA_METRICS = ("exact_match", "f1")
SUMMARY_METRICS = ("rouge1", "rouge2", "rougeL")


@dataclass(frozen=True)
class GenSource:
    """Where a split lives under a data dir and how to read it.

    files: paths relative to the data dir; several files are read in order and concatenated.
    format: parser name in `ptt.core.genformats.PARSERS`.
    lowercase_source: lower-case the template fields (Multi-News: the Multi-News+ training pool is a lower-cased
        derived text, so both sides are lower-cased to match; ROUGE itself is case-insensitive).
    """
    files: tuple[str, ...]
    format: str
    lowercase_source: bool = False


@dataclass(frozen=True)
class GenTaskSpec:
    name: str                        # "squad"
    type: str                        # "qa" | "summarization"
    template: str                    # model input, with {fields} filled from each example
    metrics: tuple[str, ...]         # names understood by ptt.core.textmetrics.compute_generation
    primary_metric: str              # the one metric used to pick checkpoints / report transfer
    max_new_tokens: int              # generation budget at evaluation
    max_source_tokens: int | None    # truncate the rendered source to this many tokens (None: model limit)
    local: dict = field(default_factory=dict)    # split -> GenSource ("train", "eval", maybe more)
    hf_path: str = ""                # what an online user passes to datasets.load_dataset
    hf_name: str | None = None
    hf_splits: dict = field(default_factory=dict)  # our split -> hub split
    hf_fields: tuple = ()            # (template field, hub column) pairs
    hf_target_field: str = ""        # hub column with the reference(s); "a.b" = field b inside struct a
    hf_id_field: str | None = None   # hub id column (None: "<split>-<row>")
    hf_format: str = "plain"         # "plain" or "multi_news" ("|||||" documents, leading "– " in summaries)

    kind = "generation"

    @property
    def primary(self) -> str:
        """The metric that picks the best checkpoint and fills the transfer matrix."""
        return self.primary_metric

    @property
    def source_fields(self) -> tuple[str, ...]:
        """The {fields} the template uses, in order."""
        return tuple(name for _, name, _, _ in string.Formatter().parse(self.template) if name)

    def render(self, fields: dict) -> str:
        """The model input for one example."""
        return self.template.format(**fields)


_SQUAD_TRAIN = "squad/train_pool_official_train_first44articles/test-v1.1.json"  # official TRAIN despite the name
_SQUAD_DEV_A = "squad/official_dev_half_a/dev-v1.1.json"
_SQUAD_DEV_B = "squad/official_dev_half_b/test-v1.1.json"  # official DEV despite the name

GENERATION_TASKS: dict[str, GenTaskSpec] = {spec.name: spec for spec in (
    GenTaskSpec(
        name="squad", type="qa", template="question: {question} context: {context}",
        metrics=QA_METRICS, primary_metric="f1", max_new_tokens=32, max_source_tokens=None,
        # eval = official dev half A; "eval_full" = halves A + B, the complete official dev-v1.1.
        local={"train": GenSource((_SQUAD_TRAIN,), "squad_json"),
               "eval": GenSource((_SQUAD_DEV_A,), "squad_json"),
               "eval_full": GenSource((_SQUAD_DEV_A, _SQUAD_DEV_B), "squad_json")},
        hf_path="rajpurkar/squad", hf_name=None,
        hf_splits={"train": "train", "eval": "validation", "eval_full": "validation"},
        hf_fields=(("context", "context"), ("question", "question")),
        hf_target_field="answers.text", hf_id_field="id"),
    GenTaskSpec(
        name="nq_open", type="qa", template="question: {question}",
        metrics=QA_METRICS, primary_metric="f1", max_new_tokens=32, max_source_tokens=None,
        # train = the ORQA/DPR held-out part of NQ train (8,757); eval = the official NQ-open dev (3,610).
        local={"train": GenSource(("nq_open/train_pool_orqa_heldout_from_nq_train/topics.nq.dev.txt",), "nq_tsv"),
               "eval": GenSource(("nq_open/official_dev/NQ-open.dev.jsonl",), "nq_jsonl")},
        hf_path="google-research-datasets/nq_open", hf_name="nq_open",
        hf_splits={"train": "train", "eval": "validation"},
        hf_fields=(("question", "question"),), hf_target_field="answer"),
    GenTaskSpec(
        name="samsum", type="summarization", template="summarize: {dialogue}",
        metrics=SUMMARY_METRICS, primary_metric="rougeL", max_new_tokens=128, max_source_tokens=None,
        local={"train": GenSource(("samsum/train_pool_official_train_first1000/train1000.json",), "samsum_json"),
               "eval": GenSource(("samsum/official_validation/validation.jsonl",), "samsum_jsonl")},
        hf_path="Samsung/samsum", hf_name="samsum",
        hf_splits={"train": "train", "eval": "validation"},
        hf_fields=(("dialogue", "dialogue"),), hf_target_field="summary", hf_id_field="id"),
    GenTaskSpec(
        name="multi_news", type="summarization", template="summarize: {document}",
        metrics=SUMMARY_METRICS, primary_metric="rougeL", max_new_tokens=256, max_source_tokens=384,
        # train = Multi-News+ (official train idx 0-99, lower-cased); eval = LongBench's 200 official-test examples.
        local={"train": GenSource(("multi_news/multinews_plus_train_0_99/cleansed_data_cot_0_100.json",),
                                  "multinews_plus_json", lowercase_source=True),
               "eval": GenSource(("multi_news/longbench_test200/multi_news.jsonl",), "longbench_jsonl",
                                 lowercase_source=True)},
        hf_path="alexfabbri/multi_news", hf_name=None,
        hf_splits={"train": "train", "eval": "test"},
        hf_fields=(("document", "document"),), hf_target_field="summary", hf_format="multi_news"),
)}


def get_generation_task(name: str) -> GenTaskSpec:
    """The table entry for `name`, or a PttError naming --task and the choices."""
    if name not in GENERATION_TASKS:
        raise PttError(f"--task: unknown generation task {name!r}; choose one of: {', '.join(GENERATION_TASKS)}")
    return GENERATION_TASKS[name]


def load_generation_split(task: GenTaskSpec | str, split: str, data_dir: str | Path | None = None,
                          source: str = "local"):
    """Split "train" or "eval" (SQuAD also "eval_full") of a generation task as Dataset(source, targets, id).

    source="local" reads `data_dir` (default: the packaged slices, `default_data_dir()`); a missing, empty or
    malformed file is a PttError naming it. source="hub" calls `datasets.load_dataset` (network needed);
    hub rows with an empty input or no reference are skipped, as they cannot be fixed here.
    """
    task = task if isinstance(task, GenTaskSpec) else get_generation_task(task)
    if split not in task.local:
        raise PttError(f"split: unknown split {split!r} of --task {task.name}; use one of: {', '.join(task.local)}")
    if source == "hub":
        rows = _hub_rows(task, split)
    elif source == "local":
        rows = _local_rows(task.local[split], Path(data_dir) if data_dir is not None else default_data_dir())
    else:
        raise PttError(f"--data-source: unknown value {source!r}; use 'local' or 'hub'")
    import datasets  # deferred: the task table is read at CLI start-up, datasets is heavy

    features = datasets.Features({"source": datasets.Value("string"),
                                  "targets": datasets.Sequence(datasets.Value("string")), "id": datasets.Value("string")})
    return datasets.Dataset.from_dict({"source": [task.render(row.fields) for row in rows],
                                       "targets": [row.targets for row in rows],
                                       "id": [row.id for row in rows]}, features=features)


def _local_rows(spec: GenSource, root: Path) -> list[GenRow]:
    """Parse every file of a split; each must hold at least one example."""
    rows = []
    for rel in spec.files:
        path = root / rel
        parsed = PARSERS[spec.format](path, read_text(path, "--data-dir"))
        if not parsed:
            raise PttError(f"--data-dir: {path} has no examples; give a non-empty file in the "
                           f"{spec.format} format (or restore it from the shared data)")
        rows.extend(parsed)
    if spec.lowercase_source:
        for row in rows:
            row.fields = {name: value.lower() for name, value in row.fields.items()}
    return rows


def _hub_rows(task: GenTaskSpec, split: str) -> list[GenRow]:
    """datasets.load_dataset rows -> GenRows, cleaned like the local files."""
    hf_split = task.hf_splits[split]
    raw = hub_split(task.hf_path, task.hf_name, hf_split)
    rows = []
    for number, example in enumerate(raw):
        row = _hub_row(task, example, f"{hf_split}-{number}")
        if all(row.fields.values()) and row.targets:
            rows.append(row)
    return rows


def _hub_row(task: GenTaskSpec, example: dict, fallback_id: str) -> GenRow:
    """One hub example: template fields, references (a string column becomes a one-element list), id."""
    fields = {name: str(_column(example, column) or "") for name, column in task.hf_fields}
    targets = _column(example, task.hf_target_field)
    targets = [targets] if isinstance(targets, str) else list(targets or [])
    if task.hf_format == "multi_news":
        fields["document"] = join_documents(fields["document"].split("|||||"))
        targets = [strip_summary_dash(t) for t in targets]
    fields = {name: clean_text(value) for name, value in fields.items()}
    targets = [clean_text(t) for t in targets if isinstance(t, str) and t.strip()]
    row_id = str(example[task.hf_id_field]) if task.hf_id_field else fallback_id
    return GenRow(fields, targets, row_id, f"{task.hf_path} {fallback_id}")


def _column(example: dict, name: str):
    """Value of a hub column; "parent.child" reads field child of struct column parent."""
    value = example
    for part in name.split("."):
        value = value[part]
    return value
