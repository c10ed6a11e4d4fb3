"""`ptt transfer eval`: every prompt, unchanged, on every task's eval split (zero-shot cross-task transfer),
plus a random-prompt row; writes matrix.json/.csv/.png. One scorer serves every task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ptt.config import TransferEvalConfig
from ptt.core.metrics import majority_record
from ptt.core.tasks import get_task
from ptt.errors import PttError
from ptt.runtime import dist
from ptt.runtime.artifacts import artifact_paths, backbone_id
from ptt.scoring import config_for_artifact, open_scorer
from ptt.transfer.mixture import is_mixture, load_mixture
from ptt.transfer.matrix import RANDOM_ROW, matrix_result, write_matrix
from ptt.transfer.sources import load_sources, row_labels


def run(cfg: TransferEvalConfig) -> dict[str, Any]:
    tasks = [get_task(t) for t in cfg.task_list()]
    if not tasks:
        raise PttError("--tasks: give at least one task")
    paths = artifact_paths(cfg.prompts, "--prompts")
    mixtures = [load_mixture(p, flag="--prompts") + (p,) for p in paths if is_mixture(p)]
    plain = [p for p in paths if not is_mixture(p)]
    sources = load_sources(plain) if plain else []
    first = sources[0]["meta"] if sources else mixtures[0][1]
    length = sources[0]["tensor"].shape[0] if sources else mixtures[0][1]["length"]
    for _, meta, path in mixtures:
        if backbone_id(meta) != backbone_id(first) or meta["length"] != length:
            raise PttError(f"--prompts {path}: a mixture for {meta.get('backbone')} (length {meta['length']}) beside "
                           f"prompts for {first.get('backbone')} (length {length}); score one backbone and length "
                           "together")
    entries = sources + [{"path": str(path), "tensor": None, "meta": {**meta, "task": f"{meta.get('task')}(mixture)"}}
                         for _, meta, path in mixtures]
    rows = row_labels(entries) + ([] if cfg.no_random else [RANDOM_ROW])
    scores: dict[str, dict[str, dict[str, float]]] = {r: {} for r in rows}
    score_cfg = config_for_artifact(first, cfg)
    scorer = open_scorer(score_cfg, length)
    try:
        for task in tasks:  # every prompt of the row set scored together (stacked into the batch dimension)
            labels, stack = rows[:len(sources)], [src["tensor"] for src in sources]
            if not cfg.no_random:  # the untrained prompt `ptt train --init INIT --seed SEED` would start from
                labels, stack = labels + [RANDOM_ROW], stack + [scorer.initial_prompt(cfg.init, length, cfg.seed,
                                                                                      task)[0]]
            for label, metrics in zip(labels, scorer.evaluate_many(task, torch.stack(stack)) if stack else []):
                scores[label][task.name] = metrics
        majority = {t.name: majority_record([r["label"] for r in scorer.rows(t, "eval")], t.label_names)
                    for t in tasks if t.kind == "classification"}
    finally:
        scorer.close()
    for label, (module, _, _) in zip(rows[len(sources):], mixtures):  # a mixture is its own prompt module
        mixed = open_scorer(score_cfg, length, prompt_module=module)
        try:
            for task in tasks:
                scores[label][task.name] = mixed.evaluate(task)
        finally:
            mixed.close()
    result = matrix_result(entries, rows, [t.name for t in tasks], scores, majority)
    if dist.is_main():
        write_matrix(result, Path(cfg.output_dir))
    return result

