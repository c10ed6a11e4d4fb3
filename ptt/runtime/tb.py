"""TensorBoard scalars from rank 0 only (other ranks get a writer that does nothing)."""

from __future__ import annotations

from pathlib import Path

from ptt.runtime import dist


class TBWriter:
    def __init__(self, log_dir: Path, purge_step: int | None = None):
        self._writer = None
        if dist.is_main():
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(str(log_dir), purge_step=purge_step)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self._writer is not None:
            for tag, value in values.items():
                self._writer.add_scalar(tag, value, step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
