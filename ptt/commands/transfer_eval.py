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
from ptt.runtime.artifacts import artifact_paths
from ptt.scoring import config_for_artifact, open_scorer
from ptt.transfer.matrix import RANDOM_ROW, matrix_result, write_matrix
from ptt.transfer.sources.gather import gather, row_labels


def run(cfg: TransferEvalConfig) -> dict[str, Any]:
    tasks = [get_task(t) for t in cfg.task_list()]
    if not tasks:
        raise PttError("--tasks: give at least one task")
    sources = gather(artifact_paths(cfg.prompts, "--prompts"), mixtures=True)
    stacked = [s for s in sources if s.tensor is not None]  # plain prompts share one scorer and one forward
    alone = [s for s in sources if s.tensor is None]  # a mixture is its own prompt module: a scorer each
    rows = row_labels(stacked + alone) + ([] if cfg.no_random else [RANDOM_ROW])
    scores: dict[str, dict[str, dict[str, float]]] = {r: {} for r in rows}
    score_cfg, length = config_for_artifact(sources[0].meta, cfg), sources[0].length
    scorer = open_scorer(score_cfg, length)
    try:
        for task in tasks:  # every prompt of the row set scored together (stacked into the batch dimension)
            names, stack = rows[:len(stacked)], [s.tensor for s in stacked]
            if not cfg.no_random:  # the untrained prompt `ptt train --init INIT --seed SEED` would start from
                names, stack = names + [RANDOM_ROW], stack + [scorer.initial_prompt(cfg.init, length, cfg.seed,
                                                                                     task)[0]]
            for name, metrics in zip(names, scorer.evaluate_many(task, torch.stack(stack)) if stack else []):
                scores[name][task.name] = metrics
        majority = {t.name: majority_record([r["label"] for r in scorer.rows(t, "eval")], t.label_names)
                    for t in tasks if t.kind == "classification"}
    finally:
        scorer.close()
    for label, source in zip(rows[len(stacked):], alone):
        own = source.scorer(score_cfg)
        try:
            for task in tasks:
                scores[label][task.name] = source.evaluate(own, task)
        finally:
            own.close()
    result = matrix_result(stacked + alone, rows, [t.name for t in tasks], scores, majority)
    if dist.is_main():
        write_matrix(result, Path(cfg.output_dir))
    return result
