"""Commands (recipes): one module per command, each sets up, runs, saves and cleans up. The library below
(core, families, runtime, scoring, training, transfer) never imports from here.

train, eval, transfer_eval, compare, project (fit, apply), rank, indicators, plan, prompts.
"""
