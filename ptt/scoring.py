"""Scoring apart from training: a `Scorer` holds the frozen backbone, its tokenizer and family, and scores
prompts on tasks. It builds no optimizer.

`open_scorer` (ptt eval, transfer eval, indicators, source ranking) loads the backbone and runs it through an
optimizer-free forward (`ptt.runtime.deepspeed.forward_runner`: under ZeRO-3 the backbone stays partitioned
and DeepSpeed's hooks gather one layer at a time). Training (`ptt.training`) builds a Scorer around its own
engine, so evaluation during training is this same code with the trained prompt.

Every rank calls every method here; rows are sharded across ranks and every rank gets all predictions.
"""

from __future__ import annotations


import torch

from ptt.config import ScoreConfig
from ptt.backbone import Frozen, PromptModel, initial_prompt, load_weights, resolve_backbone
from ptt.core.encode import collate, encode_split
from ptt.core.metrics import argmax_rows, classification_report
from ptt.core.prompt import SoftPrompt
from ptt.core.textmetrics import compute_generation
from ptt.core.order import by_length, eval_shard
from ptt.core.tasks import TaskSpec
from ptt.families.base import LabelSpec
from ptt.runtime import dist, zero
from ptt.runtime.artifacts import backbone_id
from ptt.runtime.deepspeed import forward_runner


class Scorer:
    """Scores prompts with one frozen backbone.

    Args:
        frozen: the loaded backbone.
        model: the PromptModel whose forward `runner` runs.
        runner: the module or DeepSpeed engine that runs `model`'s forward.
        data: a config with the data fields (see `ptt.core.encode.encode_split`) and max_length.
        eval_batch_size: rows per forward on each rank.
    """

    def __init__(self, frozen: Frozen, model: PromptModel, runner, data, eval_batch_size: int):
        self.frozen, self.model, self.runner, self.data = frozen, model, runner, data
        self.eval_batch_size = eval_batch_size
        self._labels: dict[str, LabelSpec] = {}
        self._rows: dict[tuple[str, str], list[dict]] = {}

    @property
    def family(self):
        return self.frozen.family

    @property
    def tokenizer(self):
        return self.frozen.tokenizer

    @property
    def device(self) -> torch.device:
        return dist.device()

    def labels(self, task: TaskSpec) -> LabelSpec:
        """The task's labels as this family scores them (built once per task)."""
        if task.name not in self._labels:
            spec = self.family.label_spec(self.tokenizer, task.words_for(self.family))
            self._labels[task.name] = spec.to(self.device)
        return self._labels[task.name]

    def rows(self, task: TaskSpec, split: str) -> list[dict]:
        """The task's split, tokenized once."""
        key = (task.name, split)
        if key not in self._rows:
            self._rows[key] = encode_split(self.data, task, self.tokenizer, self.family, split, self.data.max_length)
        return self._rows[key]

    def keep_rows(self, task: TaskSpec, split: str, rows: list[dict]) -> None:
        """Rows tokenized ahead of time (a trainer encodes before loading weights, to fail fast on bad data)."""
        self._rows[(task.name, split)] = rows

    def scores(self, batch: dict[str, torch.Tensor], labels: LabelSpec, prompt: torch.Tensor | None = None,
               use_prompt: bool = True) -> torch.Tensor:
        """Class scores [B, C] of a collated batch. prompt: [L, H] to score, [G, L, H] (block g of B / G consecutive
        rows reads prompt g), or None for the model's own prompt."""
        device = self.device
        extras = {k: v.to(device) for k, v in batch.items()
                  if k not in ("input_ids", "attention_mask", "labels", "target_ids", "target_mask")}
        if prompt is not None:
            prompt = prompt.to(device, self.frozen.dtype)
        return self.runner(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                           labels=labels, prompt=prompt, use_prompt=use_prompt, **extras)

    def batches(self, rows: list[dict], per_forward: int):
        """(row indices, collated batch) over this rank's shard of `rows`, longest first (batches of similar widths
        pad less; results are mapped back to rows by index), `per_forward` rows at a time."""
        shard = by_length(eval_shard(len(rows), dist.rank(), dist.world_size()), [len(r["input_ids"]) for r in rows])
        for start in range(0, len(shard), per_forward):
            idx = shard[start: start + per_forward]
            yield idx, collate([rows[i] for i in idx], self.tokenizer.pad_token_id)

    def stacking(self, prompts: torch.Tensor | None) -> tuple[int, int, torch.Tensor | None]:
        """(P, rows per forward, prompts on the device): P prompts share each forward, eval_batch_size // P rows
        (at least one) under every prompt. prompts: [P, L, H], or None for the model's own prompt or none (P = 1)."""
        n = 1 if prompts is None else prompts.shape[0]
        stack = None if prompts is None else prompts.to(self.device, self.frozen.dtype)
        return n, max(1, self.eval_batch_size // n), stack

    @torch.no_grad()
    def classify_many(self, rows: list[dict], labels: LabelSpec, prompts: torch.Tensor | None = None,
                      use_prompt: bool = True) -> list[list[list[float]]]:
        """[P][N][C] class scores (the logits training's cross-entropy reads) of every row under each of the prompts
        [P, L, H] (None: the model's own prompt, or none with use_prompt False, as P = 1); all ranks get all of
        them. The prompts are stacked into the batch dimension: each batch of rows is collated and padded once and
        its copies, one per prompt, run in one forward."""
        n, per, stack = self.stacking(prompts)
        pairs = []
        for idx, batch in self.batches(rows, per):
            # prompt-major, as stacked: block p of len(idx) rows reads prompt p
            scores = self.scores(stacked(batch, n), labels, stack, use_prompt).float()
            pairs.extend(zip(idx, scores.view(n, len(idx), -1).transpose(0, 1).tolist()))
        per_row = gather_rows(pairs, len(rows))
        return [[per_row[i][p] for i in range(len(rows))] for p in range(n)]

    def classify(self, rows: list[dict], labels: LabelSpec, prompt: torch.Tensor | None = None,
                 use_prompt: bool = True) -> list[list[float]]:
        """[N][C] class scores of every row under one prompt [L, H] (None: the model's own prompt, or none)."""
        return self.classify_many(rows, labels, one(prompt), use_prompt)[0]

    def predict(self, rows: list[dict], labels: LabelSpec, prompt: torch.Tensor | None = None,
                use_prompt: bool = True) -> list[int]:
        """Predicted label index of every row (the first of tied scores, as torch.argmax)."""
        return argmax_rows(self.classify(rows, labels, prompt, use_prompt))

    def lm_loss(self, batch: dict[str, torch.Tensor], prompt: torch.Tensor | None = None) -> torch.Tensor:
        """Mean teacher-forced loss over the batch's target tokens (generation tasks), through the runner."""
        device = self.device
        return self.runner(input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device),
                           prompt=None if prompt is None else prompt.to(device, self.frozen.dtype),
                           target_ids=batch["target_ids"].to(device), target_mask=batch["target_mask"].to(device))

    def prompt_values(self, prompts: torch.Tensor | None, use_prompt: bool) -> torch.Tensor | None:
        """The prompts [P, L, H] to decode with: `prompts`, else the model's own prompt module's current value as
        one prompt (None: no prompt, or a prompt computed per input inside `prompted`)."""
        if not use_prompt:
            return None
        if prompts is not None:
            return prompts
        module = self.model.prompt
        if getattr(module, "input_dependent", False):  # computed per input inside `prompted`
            return None
        if isinstance(module, SoftPrompt):  # read the (possibly ZeRO-3 partitioned) weight whole, never a shard
            with zero.gathered([module.weight]):
                return module.weight.detach().clone()[None]
        return module().detach()[None]

    def generate(self, rows: list[dict], task, prompt: torch.Tensor | None = None, use_prompt: bool = True,
                 use_cache: bool = True) -> list[str]:
        """Greedy decodings of every row under one prompt [L, H] (None: the model's own prompt, or none)."""
        return self.generate_many(rows, task, one(prompt), use_prompt, use_cache)[0]

    def generate_many(self, rows: list[dict], task, prompts: torch.Tensor | None = None, use_prompt: bool = True,
                      use_cache: bool = True) -> list[list[str]]:
        """[P][N] greedy decodings of every row under each of the prompts [P, L, H] (None: the model's own prompt,
        or none): `generate_ids_many`'s tokens as text."""
        tok = self.tokenizer
        return [[tok.decode(ids, skip_special_tokens=True).strip() for ids in per_prompt]
                for per_prompt in self.generate_ids_many(rows, task, prompts, use_prompt, use_cache)]

    @torch.no_grad()
    def generate_ids_many(self, rows: list[dict], task, prompts: torch.Tensor | None = None, use_prompt: bool = True,
                          use_cache: bool = True, max_new_tokens: int | None = None,
                          stop_at_eos: bool = True) -> list[list[list[int]]]:
        """[P][N] greedy token ids of every row under each of the prompts [P, L, H] (None: the model's own prompt,
        or none), the tokens before the first EOS; batched with the prompts stacked into the batch dimension and
        sharded across ranks (all ranks get all of them); under several ranks every rank keeps stepping until all
        are done. max_new_tokens: the budget (default: the run's, else the task's); stop_at_eos False decodes
        exactly that many tokens per row, EOS or not (a fixed amount of work, for timing)."""
        n, per, stack = self.stacking(self.prompt_values(prompts, use_prompt))
        budget = max_new_tokens or getattr(self.data, "max_new_tokens", None) or task.max_new_tokens
        tok, pairs = self.tokenizer, []
        stop = tok.eos_token_id if stop_at_eos else -1  # no token id is -1: no row stops early
        for idx, batch in self.batches(rows, per):
            batch = stacked(batch, n)
            embeds, mask, _ = self.model.prompted(batch["input_ids"].to(self.device),
                                                  batch["attention_mask"].to(self.device), stack, use_prompt)
            tokens = self.family.generate(self.model.backbone, embeds, mask, budget, stop, tok.pad_token_id,
                                          use_cache=use_cache, synced=dist.world_size() > 1).tolist()
            ids = [cut_at_eos(t, tok.eos_token_id) if stop_at_eos else t for t in tokens]
            pairs.extend((i, ids[j::len(idx)]) for j, i in enumerate(idx))  # row j's tokens under every prompt
        per_row = gather_rows(pairs, len(rows))
        return [[per_row[i][p] for i in range(len(rows))] for p in range(n)]

    def evaluate(self, task, prompt: torch.Tensor | None = None, use_prompt: bool = True,
                 rows: list[dict] | None = None) -> dict[str, float]:
        """The task's metrics on `rows` (default: its eval split) under one prompt [L, H] (None: the model's own
        prompt, or none)."""
        return self.evaluate_many(task, one(prompt), use_prompt, rows)[0]

    def evaluate_many(self, task, prompts: torch.Tensor | None = None, use_prompt: bool = True,
                      rows: list[dict] | None = None) -> list[dict[str, float]]:
        """The task's metrics on `rows` (default: its eval split) under each of the prompts [P, L, H] (None: the
        model's own prompt, or none), scored together: rank classification, or greedy decoding scored against every
        reference."""
        rows = self.rows(task, "eval") if rows is None else rows
        if task.kind == "generation":
            return [compute_generation(task.metrics, texts, [r["references"] for r in rows])
                    for texts in self.generate_many(rows, task, prompts, use_prompt)]
        gold = [r["label"] for r in rows]
        return [classification_report(task.metrics, argmax_rows(scores), gold)
                for scores in self.classify_many(rows, self.labels(task), prompts, use_prompt)]

    def initial_prompt(self, init: str, length: int, seed: int, task: TaskSpec) -> tuple[torch.Tensor, dict]:
        """The untrained prompt `ptt train --init INIT --seed SEED` starts from (see `ptt.backbone`)."""
        return initial_prompt(self.frozen, init, length, seed, task)

    def close(self) -> None:
        """Drop DeepSpeed hooks and transformers' global ZeRO-3 flag so the process can build another model."""
        if hasattr(self.runner, "destroy"):
            self.runner.destroy()
        zero.release_context()


def one(prompt: torch.Tensor | None) -> torch.Tensor | None:
    """A single prompt [L, H] as a stack of one [1, L, H]."""
    return None if prompt is None else prompt[None]


def stacked(batch: dict[str, torch.Tensor], n: int) -> dict[str, torch.Tensor]:
    """The batch repeated n times along the batch dimension (prompt-major: copy p holds every row for prompt p)."""
    return batch if n == 1 else {k: v.repeat(n, *[1] * (v.dim() - 1)) for k, v in batch.items()}


def gather_rows(pairs: list[tuple[int, object]], n: int) -> list:
    """Every rank's (row index, value) pairs merged into one list of the n rows' values, on every rank (repeats
    from shard padding collapse)."""
    merged = dict(p for part in dist.all_gather_objects(pairs) for p in part)
    return [merged[i] for i in range(n)]


def cut_at_eos(tokens: list[int], eos_id: int) -> list[int]:
    """The tokens before the first EOS."""
    return tokens[:tokens.index(eos_id)] if eos_id in tokens else tokens


def open_scorer(cfg, prompt_length: int, prompt_module: torch.nn.Module | None = None) -> Scorer:
    """A Scorer for prompts of `prompt_length` on cfg.backbone (every rank calls this).

    cfg: any job config; the scorer reads its `ptt.config.ScoreConfig` fields (backbone, family, precision,
    ds_config, seed, max_length, eval_batch_size, max_new_tokens and the data fields; a field the job lacks keeps its
    default). prompt_module: the model's own prompt (e.g. a loaded attention mixture), scored when `evaluate` gets no
    prompt tensor.
    """
    cfg, world = ScoreConfig.of(cfg), dist.world_size()
    frozen = resolve_backbone(cfg.backbone, cfg.family, prompt_length=prompt_length, max_length=cfg.max_length,
                              precision=cfg.precision, ds_config=cfg.ds_config,
                              ds_batch={"batch_size": world, "micro": 1, "accum": 1, "max_grad_norm": 1.0})
    load_weights(frozen, cfg.seed)
    module = None if prompt_module is None else prompt_module.to(frozen.dtype)
    model = PromptModel(frozen.module, frozen.family, module).to(dist.device())
    return Scorer(frozen, model, forward_runner(model, frozen.ds_config), cfg, cfg.eval_batch_size)


def config_for_artifact(meta: dict, base, **changes):
    """A ScoreConfig that scores prompts made for the backbone in `meta` (an artifact's prompt.json): its
    backbone, family and max_length, with `base`'s data, precision and DeepSpeed settings."""
    return ScoreConfig.of(base, **{"backbone": backbone_id(meta), "family": meta.get("family"),
                                   "max_length": meta.get("max_length", 128), **changes})
