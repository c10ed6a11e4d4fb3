"""The runtime: how jobs run and what they leave on disk.

dist (rank, world size, start-up), deepspeed (ds_config, optimizer, engines), zero (every ZeRO-3 read and write),
artifacts (atomic, checksummed prompt artifacts), resume (resume state and its config check), lock (one live run
per folder), rundir (run-folder checks and logs), tb (TensorBoard), faults (fault injection for tests).
"""
