"""Everything a run builds before its first step: distributed start-up, data, the frozen backbone,
the prompt, and the DeepSpeed engine. Shared by `ptt train` and `ptt eval`."""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from ptt import __version__, dist
from ptt.backbones import (detect_family, hidden_size, label_token_ids, load_config, load_model, load_tokenizer,
                           max_positions, require_hidden)
from ptt.checkpoint import load_prompt
from ptt.config import TrainConfig
from ptt.data import load_files, load_task_split
from ptt.encode import encode_dataset, label_text_inputs
from ptt.engine import default_ds_config, initialize, load_ds_config, resolve_ds_config, resolve_precision, zero_stage
from ptt.errors import PttError
from ptt.model import PromptModel
from ptt.prompt import SoftPrompt, frequent_token_ids, gathered, labels_init, uniform_init, vocab_init
from ptt.tasks import TaskSpec, get_task


@dataclass
class Session:
    cfg: TrainConfig
    task: TaskSpec
    family: str
    precision: str
    ds_config: dict[str, Any]
    tokenizer: Any
    model: PromptModel
    engine: Any
    optimizer_name: str
    train_rows: list[dict]
    eval_rows: list[dict]
    init_info: dict[str, Any]
    hf_ds_config: Any = None  # keeps transformers' weak reference alive while ZeRO-3 builds the model
    facts: dict[str, Any] = field(default_factory=dict)
    views: dict[str, tuple] = field(default_factory=dict)
    lengths_cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def device(self) -> torch.device:
        return dist.device()

    def train_lengths(self) -> tuple[int, ...]:
        """Token count of every training row (what length-grouped batches sort by), computed once per task."""
        rows, cached = self.train_rows, self.lengths_cache
        if cached.get("rows") is not rows:
            cached.update(rows=rows, lengths=tuple(len(r["input_ids"]) for r in rows))
        return cached["lengths"]

    def use_task(self, name: str, need_train_data: bool = True) -> None:
        """Point this session (same backbone and engine) at another task: its data and its label words.
        Each task is tokenized once and cached."""
        if name not in self.views:
            task = get_task(name)
            cfg = replace(self.cfg, task=name)
            train = encode_split(cfg, task, self.tokenizer, self.family, "train") if need_train_data else []
            self.views[name] = (task, cfg, train, encode_split(cfg, task, self.tokenizer, self.family, "eval"))
        task, cfg, self.train_rows, self.eval_rows = self.views[name]
        self.model.set_labels(**label_spec(self.family, task, self.tokenizer))
        self.task, self.cfg = task, cfg

    def load_prompt_for_scoring(self, tensor: torch.Tensor) -> None:
        """Swap the prompt's values in place (every rank calls it), to score another prompt with the same
        backbone and data. Scoring only: the optimizer's fp32 master copy is not touched."""
        param = self.model.prompt.weight
        if tuple(tensor.shape) != (self.model.prompt.length, self.model.prompt.hidden_size):
            raise ValueError(f"prompt of shape {tuple(tensor.shape)} in a session built for "
                             f"{(self.model.prompt.length, self.model.prompt.hidden_size)}")
        ctx = gathered_for_write(param)
        with ctx:
            param.data.copy_(tensor.to(param.device, param.dtype))

    def close(self) -> None:
        """Drop DeepSpeed hooks and transformers' global ZeRO-3 flag so the process can build another run."""
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        self.engine.destroy()
        unset_hf_deepspeed_config()


def open_session(cfg: TrainConfig, need_train_data: bool = True, prompt_module=None) -> Session:
    """Build the run described by `cfg` (every rank calls this).

    prompt_module: optional factory (hidden size, dtype) -> nn.Module whose forward() returns the prompt
    [L, H] (e.g. a projector applied to a source prompt); its trainable parameters, not a SoftPrompt,
    then go to the optimizer.
    """
    quiet_libraries()
    # 1) everything that can be wrong with the input fails here, before any process group or model
    task = get_task(cfg.task)
    hf_config = load_config(cfg.backbone)
    family = cfg.family or detect_family(hf_config)
    hidden = hidden_size(hf_config)
    check_positions(cfg, hf_config)
    source = prompt_from_artifact(cfg.init_from, hidden, cfg.prompt_length, cfg.backbone) if cfg.init_from else None
    device = dist.device()
    raw_ds = load_ds_config(cfg.ds_config or default_ds_config(device, dist.world_size()))
    precision = resolve_precision(cfg, raw_ds, device)
    ds = resolve_ds_config(raw_ds, cfg, dist.world_size(), precision)
    tokenizer = load_tokenizer(cfg.backbone)
    train_rows = encode_split(cfg, task, tokenizer, family, "train") if need_train_data else []
    eval_rows = encode_split(cfg, task, tokenizer, family, "eval")
    # 2) the process group, then the frozen backbone (partitioned at load time under ZeRO-3)
    dist.init()
    torch.manual_seed(cfg.seed)
    hf_ds = _zero3_context(ds)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    backbone = load_model(cfg.backbone, family, dtype)
    if prompt_module is None:
        init, init_info = source or initial_prompt(cfg, task, tokenizer, backbone, family, hidden)
        prompt = SoftPrompt(init.to(dtype))
    else:
        prompt, init_info = prompt_module(hidden, dtype), {"init": "prompt_module"}
    model = build_prompt_model(backbone, family, prompt, task, tokenizer).to(device)
    engine, opt_name = initialize(model, [p for p in prompt.parameters() if p.requires_grad], cfg, ds, device)
    facts = {"hidden_size": hidden_size(hf_config), "model_type": hf_config.model_type,
             "max_positions": max_positions(hf_config), "zero_stage": zero_stage(ds)}
    session = Session(cfg, task, family, precision, ds, tokenizer, model, engine, opt_name, train_rows, eval_rows,
                      init_info, hf_ds, facts)
    session.views[task.name] = (task, cfg, train_rows, eval_rows)
    return session


def quiet_libraries() -> None:
    """DeepSpeed and transformers log at INFO per rank; keep the console for ptt's own lines."""
    from deepspeed.utils import logger as ds_logger
    from transformers.utils import logging as hf_logging

    ds_logger.setLevel(logging.WARNING)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def check_positions(cfg: TrainConfig, hf_config) -> None:
    limit = max_positions(hf_config)
    if limit is not None and cfg.prompt_length + cfg.max_length > limit:
        raise PttError(
            f"--prompt-length {cfg.prompt_length}: with --max-length {cfg.max_length} the input needs "
            f"{cfg.prompt_length + cfg.max_length} positions but {cfg.backbone} has {limit}; "
            f"lower --prompt-length or --max-length so they sum to at most {limit}"
        )


def encode_split(cfg: TrainConfig, task: TaskSpec, tokenizer, family: str, split: str) -> list[dict]:
    """Load (task table or --train/--eval-file) and tokenize one split."""
    path = cfg.train_file if split == "train" else cfg.eval_file
    if path:
        fields = cfg.text_fields() or (("text_a", "text_b") if task.pair else ("text",))
        ds = load_files(path, fields, cfg.label_field, task.label_names, flag=f"--{split}-file")
    else:
        ds = load_task_split(task, split, cfg.data_dir, cfg.data_source)
    limit = cfg.max_train_examples if split == "train" else cfg.max_eval_examples
    if limit is not None and len(ds) > limit:
        ds = ds.select(range(limit))
    if len(ds) == 0:
        raise PttError(f"--task {task.name}: the {split} split is empty; check --data-dir or --{split}-file")
    return encode_dataset(ds, task, tokenizer, family, cfg.max_length)


def initial_prompt(cfg, task, tokenizer, backbone, family, hidden) -> tuple[torch.Tensor, dict]:
    """[L, H] starting prompt, and a record of where it came from (written into the run folder)."""
    g = torch.Generator().manual_seed(cfg.seed)
    if cfg.init == "uniform":
        return uniform_init(cfg.prompt_length, hidden, g), {"init": "uniform", "range": 0.5}
    emb = backbone.get_input_embeddings().weight
    pool = frequent_token_ids(getattr(emb, "ds_shape", emb.shape)[0], tokenizer.all_special_ids)
    with gathered([emb]):  # every rank enters: under ZeRO-3 this all-gathers the embedding matrix
        if cfg.init == "vocab":
            return vocab_init(emb, cfg.prompt_length, g, pool), {"init": "vocab", "pool": len(pool)}
        ids = label_token_ids(tokenizer, task.label_words[family])
        return labels_init(emb, cfg.prompt_length, g, ids, pool), {"init": "labels", "label_ids": ids}


def prompt_from_artifact(path: str, hidden: int, length: int, backbone: str) -> tuple[torch.Tensor, dict]:
    tensor, meta = load_prompt(path, flag="--init-from")
    require_hidden(tensor, meta, path, backbone, hidden, "--init-from")
    if tensor.shape[0] != length:
        raise PttError(f"--init-from {path}: prompt length {tensor.shape[0]} but --prompt-length {length}; "
                       f"pass --prompt-length {tensor.shape[0]}")
    info = {"init": "from", "source": str(path), "source_task": meta.get("task"),
            "source_backbone": meta.get("backbone"), "source_sha256": meta.get("sha256")}
    return tensor, info


def label_spec(family: str, task: TaskSpec, tokenizer) -> dict:
    """How the family scores this task's labels: label-word token ids, or the encoded verbalizer texts."""
    words = task.label_words[family]
    if family == "encoder":
        return {"label_inputs": label_text_inputs(tokenizer, words)}
    return {"label_ids": label_token_ids(tokenizer, words)}


def build_prompt_model(backbone, family: str, prompt, task: TaskSpec, tokenizer) -> PromptModel:
    return PromptModel(backbone, family, prompt, **label_spec(family, task, tokenizer))


def versions() -> dict[str, str]:
    import datasets
    import deepspeed
    import transformers

    return {"ptt": __version__, "torch": torch.__version__, "deepspeed": deepspeed.__version__,
            "transformers": transformers.__version__, "datasets": datasets.__version__,
            "python": platform.python_version()}


def gathered_for_write(param):
    """Under ZeRO-3: the full parameter, re-partitioned from rank 0's values on exit."""
    import contextlib

    if not hasattr(param, "ds_id"):
        return contextlib.nullcontext()
    import deepspeed

    return deepspeed.zero.GatheredParameters([param], modifier_rank=0)


def _zero3_context(ds: dict[str, Any]):
    """A live HfDeepSpeedConfig makes `from_pretrained` build under `deepspeed.zero.Init` (ZeRO-3 only)."""
    if zero_stage(ds) != 3:
        return None
    from transformers.integrations.deepspeed import HfDeepSpeedConfig

    return HfDeepSpeedConfig(ds)
