"""DeepSpeed: ds_config loading and "auto" filling, the optimizer choice, the training engine, and the
optimizer-free engine that scoring uses under ZeRO-3.

A ds_config holds DeepSpeed knobs only. Values ptt also knows (batch sizes, clipping, precision)
are "auto" and filled from the job's config; an explicit value that disagrees is an error, so the
run folder never records two different truths.
"""

from __future__ import annotations

import copy
import difflib
import json
import sys
from pathlib import Path
from typing import Any

import torch

from ptt.errors import PttError

DEFAULT_DS_CONFIG = "zero3_bf16"
SINGLE_CPU_DS_CONFIG = "zero2_bf16"  # one CPU process: nothing to partition, and ZeRO-3's hooks cost ~30% per step
OWNED_SECTIONS = ("optimizer", "scheduler")
# DeepSpeed's documented top-level sections; it ignores unknown keys silently, so a typo would go unnoticed.
DS_TOP_LEVEL_KEYS = frozenset("""
train_batch_size train_micro_batch_size_per_gpu gradient_accumulation_steps optimizer scheduler fp16 bf16 amp
torch_autocast gradient_clipping prescale_gradients gradient_predivide_factor sparse_gradients zero_optimization
zero_allow_untested_optimizer zero_force_ds_cpu_optimizer steps_per_print wall_clock_breakdown dump_state
memory_breakdown communication_data_type seq_parallel_communication_data_type activation_checkpointing
flops_profiler tensorboard wandb csv_monitor comet comms_logger aio checkpoint data_types data_efficiency
curriculum_learning dataloader_drop_last compile elasticity autotuning nebula compression_training pipeline timers
eigenvalue progressive_layer_drop graph_harvesting weight_quantization hybrid_engine sparse_attention
quantize_training use_data_before_expert_parallelism disable_allgather gradient_accumulation_dtype
zero_quantized_weights zero_quantized_gradients monitor_config load_universal_checkpoint tensor_parallel
sequence_parallel_size float16 data_parallel_size
""".split())  # ptt builds these itself (fused Adam on CUDA, AdamW on CPU)


def ds_config_dirs() -> list[Path]:
    """Where named ds_configs live: the repo's ds_configs/ (checkout) or the installed share/ptt copy."""
    repo = Path(__file__).resolve().parents[2] / "ds_configs"
    return [repo, Path(sys.prefix) / "share" / "ptt" / "ds_configs"]


def default_ds_config(device: torch.device, world_size: int) -> str:
    """zero3_bf16, except for a single CPU process (see SINGLE_CPU_DS_CONFIG)."""
    return SINGLE_CPU_DS_CONFIG if device.type == "cpu" and world_size == 1 else DEFAULT_DS_CONFIG


def find_ds_config(name_or_path: str | None) -> Path:
    name = name_or_path or DEFAULT_DS_CONFIG
    if Path(name).is_file():
        return Path(name)
    for d in ds_config_dirs():
        for cand in (d / name, d / f"{name}.json"):
            if cand.is_file():
                return cand
    raise PttError(f"--ds-config {name}: no such file or named config; pass a JSON path or one of zero3_bf16, "
                   "zero2_bf16, zero3_offload")


def load_ds_config(name_or_path: str | None) -> dict[str, Any]:
    path = find_ds_config(name_or_path)
    try:
        ds = json.loads(path.read_text())
    except ValueError as e:
        raise PttError(f"--ds-config {path}: not valid JSON ({e}); fix the file")
    if not isinstance(ds, dict):
        raise PttError(f"--ds-config {path}: must hold a JSON object")
    for key in ds:
        if key not in DS_TOP_LEVEL_KEYS:
            close = difflib.get_close_matches(key, DS_TOP_LEVEL_KEYS, n=1)
            hint = f"did you mean \"{close[0]}\"?" if close else "remove it"
            raise PttError(f"--ds-config {path}: unknown key \"{key}\"; {hint}")
    return ds


def resolve_precision(flag: str, ds: dict[str, Any], device: torch.device) -> str:
    """fp32 or bf16: --precision if not auto, else an explicit ds_config value, else bf16 on CUDA and fp32 on CPU."""
    explicit = ds.get("bf16", {}).get("enabled", "auto")
    if flag != "auto":
        return flag
    if explicit != "auto":
        return "bf16" if explicit else "fp32"
    return "bf16" if device.type == "cuda" else "fp32"


def resolve_ds_config(ds: dict[str, Any], *, batch_size: int, micro: int, accum: int, max_grad_norm: float,
                      precision: str) -> dict[str, Any]:
    """Fill every "auto" from the job's values; refuse explicit values that disagree, and sections ptt owns."""
    for section in OWNED_SECTIONS:
        if section in ds:
            raise PttError(f"--ds-config: remove its \"{section}\" section; ptt builds the {section} from --lr, "
                           "--weight-decay and --warmup-steps")
    if ds.get("fp16", {}).get("enabled") in (True, "auto"):
        raise PttError("--ds-config: fp16 is not supported (T5 overflows in fp16); use bf16 or fp32")
    out = copy.deepcopy(ds)
    _fill(out, ("train_batch_size",), batch_size, "--batch-size")
    _fill(out, ("train_micro_batch_size_per_gpu",), micro, "--micro-batch-size")
    _fill(out, ("gradient_accumulation_steps",), accum, "--batch-size/--micro-batch-size")
    _fill(out, ("gradient_clipping",), max_grad_norm, "--max-grad-norm")
    _fill(out, ("bf16", "enabled"), precision == "bf16", "--precision")
    out.pop("fp16", None)
    return out


def zero_stage(ds: dict[str, Any]) -> int:
    return int(ds.get("zero_optimization", {}).get("stage", 0))


def build_optimizer(params, lr: float, weight_decay: float, device: torch.device) -> tuple[torch.optim.Optimizer, str]:
    """DeepSpeed's FusedAdam (AdamW mode) on CUDA, torch AdamW elsewhere; returns it and its name."""
    if device.type == "cuda":
        from deepspeed.ops.adam import FusedAdam

        return FusedAdam(params, lr=lr, weight_decay=weight_decay, adam_w_mode=True), "deepspeed.FusedAdam"
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay), "torch.optim.AdamW"


def build_scheduler(opt: torch.optim.Optimizer, warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup for `warmup_steps`, then constant (the paper's schedule)."""
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0)


def initialize(model: torch.nn.Module, trainable: list[torch.nn.Parameter], *, lr: float, weight_decay: float,
               warmup_steps: int, ds: dict[str, Any], device: torch.device):
    """`deepspeed.initialize` with the trainable parameters only. Returns (engine, optimizer name)."""
    import deepspeed

    opt, opt_name = build_optimizer(trainable, lr, weight_decay, device)
    sched = build_scheduler(opt, warmup_steps)
    engine, _, _, _ = deepspeed.initialize(model=model, model_parameters=trainable, optimizer=opt,
                                           lr_scheduler=sched, config=ds)
    return engine, opt_name


def forward_runner(model: torch.nn.Module, ds: dict[str, Any]):
    """What runs a frozen model's forward for scoring, with no optimizer: under ZeRO-3 an optimizer-free
    DeepSpeed engine (its parameter hooks gather each partitioned layer just before it runs and release it
    after, so the backbone stays partitioned); otherwise the module itself (nothing to gather)."""
    if zero_stage(ds) != 3:
        return model
    import deepspeed

    engine, _, _, _ = deepspeed.initialize(model=model, config=ds)
    return engine


def _fill(ds: dict[str, Any], path: tuple[str, ...], value: Any, flag: str) -> None:
    node = ds
    for key in path[:-1]:
        node = node.setdefault(key, {})
    current = node.get(path[-1], "auto")
    if current == "auto":
        node[path[-1]] = value
    elif current != value:
        raise PttError(f"--ds-config: \"{'.'.join(path)}\" is {current!r} but {flag} gives {value!r}; "
                       f"set it to \"auto\" or pass the matching {flag}")
