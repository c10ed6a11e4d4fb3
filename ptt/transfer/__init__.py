"""Transfer: everything that moves or compares prompts across tasks and backbones.

sources (loading prompts of one backbone), matrix (the zero-shot transfer matrix), comparison and curves
(random vs transferred convergence), projector (cross-model projector, its distance fit and artifact),
similarity, activations and statistics (transferability indicators and their correlation), library (listing
prompt artifacts), peft (PEFT interchange), selection (ranking a library's sources), paired (per-seed paired differences, prompt averaging), plots.
"""
