"""Rank and world size from one place, and distributed start-up.

The same code path serves one plain process and the `deepspeed` launcher: a plain process gets
the environment a launcher would have set (rank 0 of 1 on a free local port).
"""

from __future__ import annotations

import os
import socket

import torch


def ensure_launch_env() -> None:
    """Fill in RANK/WORLD_SIZE/... for a process started without a launcher."""
    if "WORLD_SIZE" in os.environ and "RANK" in os.environ:
        return
    os.environ.setdefault("RANK", "0")
    os.environ.setdefault("LOCAL_RANK", "0")
    os.environ.setdefault("WORLD_SIZE", "1")
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(_free_port()))


def init() -> None:
    """Start torch.distributed through DeepSpeed (gloo on CPU, nccl on CUDA); idempotent."""
    import deepspeed

    ensure_launch_env()
    if not torch.distributed.is_initialized():
        deepspeed.init_distributed(verbose=False)
    if device().type == "cuda":
        torch.cuda.set_device(local_rank())


def rank() -> int:
    return torch.distributed.get_rank() if torch.distributed.is_initialized() else int(os.environ.get("RANK", 0))


def world_size() -> int:
    if torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return int(os.environ.get("WORLD_SIZE", 1))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main() -> bool:
    return rank() == 0


def device() -> torch.device:
    """The accelerator DeepSpeed picked for this rank (cuda:LOCAL_RANK or cpu)."""
    from deepspeed.accelerator import get_accelerator

    name = get_accelerator().device_name()
    return torch.device(f"{name}:{local_rank()}" if name == "cuda" else name)


def barrier() -> None:
    if torch.distributed.is_initialized():
        torch.distributed.barrier()


def all_gather_objects(obj):
    """Every rank's `obj`, in rank order (a list of one outside distributed runs)."""
    if not torch.distributed.is_initialized() or world_size() == 1:
        return [obj]
    out = [None] * world_size()
    torch.distributed.all_gather_object(out, obj)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
