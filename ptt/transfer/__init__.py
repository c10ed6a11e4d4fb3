"""Transfer: everything that moves or compares prompts across tasks and backbones, grouped by concept.

indicators (embedding similarity, activation overlap, their matrices and correlation with transfer), sources
(gathering, listing, ranking and combining source prompts), comparison (random vs transferred convergence: curves,
paired statistics, the report), cross_model (projector, recycling); matrix (the zero-shot transfer matrix), peft
(PEFT interchange), plots.
"""
