#!/usr/bin/env bash
# Generation tasks on real data, end to end: prompts trained on SQuAD and NQ-Open with a small T5 built from
# config (random weights: the point is the whole path on real data, not the scores), then a transfer matrix over
# squad, nq_open, samsum and sst2, each column with its own primary metric.
# Usage: examples/generation_study.sh OUT
set -euo pipefail
[[ $# -eq 1 ]] || { echo "usage: $0 OUT" >&2; exit 2; }
OUT=$1
[[ -f "$OUT/t5/config.json" ]] || python -m ptt.tiny t5 "$OUT/t5" --shape demo
for task in squad nq_open; do
  [[ -f "$OUT/prompts/$task/summary.json" ]] || ptt train --backbone "$OUT/t5" --task "$task" --prompt-length 20 \
    --init vocab --lr 0.3 --max-length 256 --max-train-examples 400 --max-eval-examples 100 --max-steps 100 \
    --eval-every 50 --batch-size 16 --output-dir "$OUT/prompts/$task" --overwrite
done
ptt transfer eval --prompts "$OUT"/prompts/*/best --tasks squad,nq_open,samsum,sst2 --max-eval-examples 100 \
  --output-dir "$OUT/matrix"
