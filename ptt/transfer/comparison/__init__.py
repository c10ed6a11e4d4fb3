"""Random against transferred initialization: convergence curves and their figures (curves), per-seed paired
differences with their intervals (paired), and the N-arm report built from both (report)."""
