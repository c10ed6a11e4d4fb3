"""The throughput benchmark's parts (benchmarks/throughput.py is the command): common measurements, ptt's side,
PEFT's side, the printed report."""
