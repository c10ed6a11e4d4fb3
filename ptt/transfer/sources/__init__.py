"""Source prompts: gathering a set of prompt artifacts of one backbone (gather), listing a folder of them (library),
ranking a library's prompts for a target task (ranking), and combining prompts into one start (combine: the mean,
the top-k mean; mixture: the per-input attention mixture)."""
