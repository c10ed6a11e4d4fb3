"""The one table of tasks: labels, verbalizer words, templates, hub and local sources.

Every label trap of the raw files (IMDB "0" = positive, RTE glue_hf 0 = entailment, ...) is written
down here, in `LocalSource.label_map`, so the parsers in `ptt.core.data` never guess a label order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ptt.core.generation import GENERATION_TASKS, GenTaskSpec
from ptt.errors import PttError


@dataclass(frozen=True)
class LocalSource:
    """Where a split lives under a data dir, and how to read it.

    files: paths relative to the data dir (two for the parallel text/labels format).
    format: parser name in `ptt.core.data` ("stsa", "sentence_tsv", "imdb_json", "absa_seg",
        "parallel_lines", "pretrain_json", "glue_hf_tsv", "mrpc_tsv").
    label_map: raw label string in the file -> label name; None means the file already holds names.
    """
    files: tuple[str, ...]
    format: str
    label_map: dict | None = None


@dataclass(frozen=True)
class TaskSpec:
    name: str                 # "sst2"
    type: str                 # "sentiment" | "nli" | "paraphrase"
    label_names: tuple[str, ...]      # canonical order; label index i <-> label_names[i]
    label_words: dict         # family -> tuple of words, same order as label_names
    metrics: tuple[str, ...]  # ("accuracy",) or ("accuracy", "f1"); f1 positive class = index 1
    pair: bool                # two text fields (text_a, text_b) or one
    template: str             # uses {a} and {b}
    hf_path: str              # what an online user passes to datasets.load_dataset
    hf_name: str | None
    hf_splits: dict           # {"train": ..., "eval": ...}
    hf_fields: tuple[str, ...]        # text columns on the hub ("a.b" = list field b inside struct a)
    hf_label_field: str
    hf_label_names: tuple[str, ...]   # hub integer label i means hf_label_names[i]
    local: dict = field(default_factory=dict)  # {"train": LocalSource, "eval": LocalSource}

    kind = "classification"

    @property
    def primary(self) -> str:
        """The metric that picks the best checkpoint and fills the transfer matrix."""
        return self.metrics[0]

    def words_for(self, family) -> tuple[str, ...]:
        """The label words `family` (a `ptt.families.base.Family`) scores: its own entry in the table, else the
        entry of the family it declares itself like (`Family.words_like`)."""
        words = self.label_words.get(family.name) or self.label_words.get(family.words_like or "")
        if words is None:
            raise PttError(f"--task {self.name}: no label words for the {family.name} family; add them to the "
                           "task table (ptt/core/tasks.py)")
        return words


FAMILIES = ("seq2seq", "masked_lm", "encoder")  # the families whose verbalizers this table spells out
BINARY_SENTIMENT = ("negative", "positive")
THREE_SENTIMENT = ("negative", "neutral", "positive")
THREE_NLI = ("entailment", "neutral", "contradiction")
TWO_NLI = ("entailment", "not_entailment")
GLUE_SPLITS = {"train": "train", "eval": "validation"}

# Raw label strings of the shared files -> label names (the label traps live here).
BIN01 = {"0": "negative", "1": "positive"}                 # stsa, MR tsv: 1 = positive
IMDB_USB = {"0": "positive", "1": "negative"}              # aclImdb_usb json: "0" = POSITIVE
ABSA_SEG = {"-1": "negative", "0": "neutral", "1": "positive"}
TWEETEVAL = {"0": "negative", "1": "neutral", "2": "positive"}  # mapping.txt
RTE_GLUE_HF = {"0": "entailment", "1": "not_entailment"}  # HF layout, not the original GLUE words
MRPC_GLUE = {"0": "not_equivalent", "1": "equivalent"}     # Quality column, 1 = paraphrase
QQP_PRETRAIN = {"0": "not_duplicate", "1": "duplicate"}


def _same_words(words: tuple[str, ...]) -> dict:
    """One verbalizer shared by all model families."""
    return {family: words for family in FAMILIES}


def _pretrain_splits(task: str, label_map: dict | None = None) -> dict:
    """Map our train/eval splits to glue_pretrain train.json/dev.json."""
    return {"train": LocalSource((f"{task}/glue_pretrain/train.json",), "pretrain_json", label_map),
            "eval": LocalSource((f"{task}/glue_pretrain/dev.json",), "pretrain_json", label_map)}


def _absa(domain: str, prefix: str) -> dict:
    """SemEval-2014 ABSA xml.seg files: official train and gold test (used as eval)."""
    folder = f"{domain}/semeval14/{prefix}"
    return {"train": LocalSource((f"{folder}_Train.xml.seg",), "absa_seg", ABSA_SEG),
            "eval": LocalSource((f"{folder}_Test_Gold.xml.seg",), "absa_seg", ABSA_SEG)}


def _sentiment(name: str, labels: tuple[str, ...], **kw) -> TaskSpec:
    """Sentiment task; 3-way label words say "moderate" for neutral, as in the paper's code."""
    words = ("negative", "moderate", "positive") if len(labels) == 3 else BINARY_SENTIMENT
    defaults = dict(pair=False, template="{a}", hf_splits=GLUE_SPLITS, hf_label_field="label",
                    hf_label_names=labels, metrics=("accuracy",))
    return TaskSpec(name=name, type="sentiment", label_names=labels,
                    label_words=_same_words(words), **(defaults | kw))


def _nli(name: str, labels: tuple[str, ...], **kw) -> TaskSpec:
    """NLI task: 3-way uses the label names (masked LM: yes/neutral/no); 2-way uses yes/no."""
    if len(labels) == 3:
        words = {"seq2seq": THREE_NLI, "masked_lm": ("yes", "neutral", "no"), "encoder": THREE_NLI}
    else:
        words = _same_words(("yes", "no"))
    defaults = dict(pair=True, template="premise: {a} hypothesis: {b}", hf_splits=GLUE_SPLITS,
                    hf_label_field="label", hf_label_names=labels, metrics=("accuracy",))
    return TaskSpec(name=name, type="nli", label_names=labels, label_words=words, **(defaults | kw))


def _paraphrase(name: str, labels: tuple[str, ...], **kw) -> TaskSpec:
    """Paraphrase task: words false/true, F1 on the positive class (index 1)."""
    return TaskSpec(name=name, type="paraphrase", label_names=labels,
                    label_words=_same_words(("false", "true")), metrics=("accuracy", "f1"),
                    pair=True, template="sentence1: {a} sentence2: {b}", hf_path="nyu-mll/glue",
                    hf_name=name, hf_splits=GLUE_SPLITS, hf_label_field="label",
                    hf_label_names=labels, **kw)


_ASPECT = dict(
    pair=True, template="{a} aspect: {b}",
    # Online source: the SemEval-2014 Task 4 export on the hub. Assumed columns (from its dataset
    # card/users, not verified offline): id, text, aspects{term[], polarity[] (strings), from[], to[]};
    # splits train / validation (validation = official gold test). "conflict" rows are dropped.
    hf_path="jakartaresearch/semeval-absa", hf_fields=("text", "aspects.term"),
    hf_label_field="aspects.polarity",
)

_TASK_LIST = [
    _sentiment("sst2", BINARY_SENTIMENT, hf_path="nyu-mll/glue", hf_name="sst2",
               hf_fields=("sentence",),
               local={"train": LocalSource(("sst2/stsa_binary/stsa.binary.train",), "stsa", BIN01),
                      "eval": LocalSource(("sst2/stsa_binary/stsa.binary.dev",), "stsa", BIN01)}),
    _sentiment("mr", BINARY_SENTIMENT, hf_path="cornell-movie-review-data/rotten_tomatoes",
               hf_name=None, hf_fields=("text",),
               local={"train": LocalSource(("mr/glue_pretrain/train.tsv",), "sentence_tsv", BIN01),
                      "eval": LocalSource(("mr/glue_pretrain/dev.tsv",), "sentence_tsv", BIN01)}),
    # Local: test.json is the training pool and dev.json the eval set (the shared data has no train).
    _sentiment("imdb", BINARY_SENTIMENT, hf_path="stanfordnlp/imdb", hf_name=None,
               hf_splits={"train": "train", "eval": "test"}, hf_fields=("text",),
               local={"train": LocalSource(("imdb/aclImdb_usb/test.json",), "imdb_json", IMDB_USB),
                      "eval": LocalSource(("imdb/aclImdb_usb/dev.json",), "imdb_json", IMDB_USB)}),
    _sentiment("laptop", THREE_SENTIMENT, hf_name="laptop", local=_absa("laptop", "Laptops"),
               **_ASPECT),
    _sentiment("restaurant", THREE_SENTIMENT, hf_name="restaurant",
               local=_absa("restaurant", "Restaurants"), **_ASPECT),
    # Local: tweeteval train_text.txt is missing from the shared data, so test_* is the training
    # pool and val_* the eval set. The hub has the real train split.
    _sentiment("tweeteval", THREE_SENTIMENT, hf_path="cardiffnlp/tweet_eval", hf_name="sentiment",
               hf_fields=("text",),
               local={split: LocalSource((f"tweeteval_sentiment/sentiment/{pre}_text.txt",
                                          f"tweeteval_sentiment/sentiment/{pre}_labels.txt"),
                                         "parallel_lines", TWEETEVAL)
                      for split, pre in (("train", "test"), ("eval", "val"))}),
    _nli("snli", THREE_NLI, hf_path="stanfordnlp/snli", hf_name=None,
         hf_fields=("premise", "hypothesis"), local=_pretrain_splits("snli")),
    _nli("mnli", THREE_NLI, hf_path="nyu-mll/glue", hf_name="mnli",
         hf_splits={"train": "train", "eval": "validation_matched"},
         hf_fields=("premise", "hypothesis"), local=_pretrain_splits("mnli")),
    _nli("qnli", TWO_NLI, hf_path="nyu-mll/glue", hf_name="qnli", template="question: {a} sentence: {b}",
         hf_fields=("question", "sentence"), local=_pretrain_splits("qnli")),
    _nli("rte", TWO_NLI, hf_path="nyu-mll/glue", hf_name="rte", hf_fields=("sentence1", "sentence2"),
         local={"train": LocalSource(("rte/glue_hf/train.tsv",), "glue_hf_tsv", RTE_GLUE_HF),
                "eval": LocalSource(("rte/glue_hf/dev.tsv",), "glue_hf_tsv", RTE_GLUE_HF)}),
    _paraphrase("mrpc", ("not_equivalent", "equivalent"), hf_fields=("sentence1", "sentence2"),
                local={"train": LocalSource(("mrpc/glue/train.tsv",), "mrpc_tsv", MRPC_GLUE),
                       "eval": LocalSource(("mrpc/glue/dev.tsv",), "mrpc_tsv", MRPC_GLUE)}),
    _paraphrase("qqp", ("not_duplicate", "duplicate"), hf_fields=("question1", "question2"),
                local=_pretrain_splits("qqp", QQP_PRETRAIN)),
]

TASKS: dict[str, TaskSpec] = {task.name: task for task in _TASK_LIST}


def get_task(name: str) -> TaskSpec | GenTaskSpec:
    """Look a task up by name (classification or generation); unknown names are a user error naming --task."""
    if name in TASKS:
        return TASKS[name]
    if name in GENERATION_TASKS:
        return GENERATION_TASKS[name]
    known = ", ".join([*TASKS, *GENERATION_TASKS])
    raise PttError(f"--task: unknown task {name!r}; use one of: {known}")
