"""Figures (matplotlib, no display): the transfer heatmap and the convergence curves."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ptt.runtime.artifacts import atomic_write_bytes  # noqa: E402


def heatmap(panels: Sequence[tuple[str, list[list[float | None]]]], rows: Sequence[str], cols: Sequence[str],
            path: Path, xlabel: str = "target task", ylabel: str = "source prompt") -> None:
    """One labelled heatmap per (title, values[row][col]) panel, values written in each cell."""
    fig, axes = plt.subplots(1, len(panels), figsize=(1.2 * len(cols) * len(panels) + 3, 0.6 * len(rows) + 2),
                             squeeze=False)
    for ax, (title, values) in zip(axes[0], panels):
        grid = [[float("nan") if v is None else v for v in row] for row in values]
        im = ax.imshow(grid, cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        for i, row in enumerate(values):
            for j, v in enumerate(row):
                if v is not None:
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", color="w", fontsize=8)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    _save(fig, path)


def mean_curves(arms: dict[str, tuple[list[int], list[float], list[float]]], metric: str, target: float | None,
                path: Path) -> None:
    """Mean curve of each arm with a band of one standard deviation; arms: name -> (steps, mean, std)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, (steps, mean, std) in arms.items():
        ax.plot(steps, mean, marker="o", label=name)
        ax.fill_between(steps, [m - s for m, s in zip(mean, std)], [m + s for m, s in zip(mean, std)], alpha=0.2)
    if target is not None:
        ax.axhline(target, color="gray", linestyle="--", label="target (mean)")
    ax.set_xlabel("step")
    ax.set_ylabel(f"eval {metric}")
    ax.legend()
    fig.tight_layout()
    _save(fig, path)


def _save(fig, path: Path) -> None:
    """Render to memory, then write like every other artifact (temporary name, fsync, rename)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
