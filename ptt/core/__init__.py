"""The core: what a prompt-tuning job is made of, with no model or DeepSpeed code.

tasks (the one task table), data (loaders for every packaged format, local files, the hub), encode (rows through
a family's encoder, padding), order (the pure data order), prompt (the soft prompt, its initializers, the pure
prepend), metrics (pure).
"""
