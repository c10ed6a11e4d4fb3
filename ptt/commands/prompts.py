"""`ptt prompts list|show|export-peft|import-peft`: the prompt library and PEFT interchange."""

from __future__ import annotations

from typing import Any

from ptt.transfer.sources.library import list_library, render_table, show
from ptt.transfer.peft import export_peft, import_peft


def list_prompts(directory: str) -> str:
    """A table of every prompt artifact under `directory`."""
    return render_table(list_library(directory))


def show_prompt(path: str) -> dict[str, Any]:
    return show(path)


def export(prompt: str, out: str) -> dict[str, str]:
    export_peft(prompt, out)
    return {"adapter": str(out)}


def import_adapter(adapter: str, out: str, backbone: str | None = None, task: str | None = None) -> dict[str, str]:
    import_peft(adapter, out, backbone=backbone, task=task)
    return {"prompt": str(out)}
