#!/usr/bin/env bash
# Transferability indicators on real data with the bundled MiniLM: prompts for 5 tasks of two types
# (reusing examples/transfer_study.sh's where present), their transfer matrix, every indicator's matrix
# and its correlation with transfer, and automatic source selection for a sentiment and an NLI target.
# About 25 minutes on 2 CPU cores (less when transfer_study.sh ran first). Usage: examples/indicators_study.sh [OUT]
set -euo pipefail
OUT=${1:-runs/transfer-study}
TASKS=(sst2 mr snli mnli rte)
"$(dirname "$0")/train_prompts.sh" "$OUT" "${TASKS[@]}"
prompts=()
for task in "${TASKS[@]}"; do prompts+=(--prompts "$OUT/prompts/$task/best"); done
ptt transfer eval "${prompts[@]}" --tasks "$(IFS=,; echo "${TASKS[*]}")" --max-eval-examples 500 \
  --output-dir "$OUT/matrix5"
ptt indicators "${prompts[@]}" --transfer-matrix "$OUT/matrix5/matrix.json" --output-dir "$OUT/indicators"
mkdir -p "$OUT/library"  # a prompt library: one artifact per task
for task in "${TASKS[@]}"; do rm -rf "$OUT/library/$task"; cp -r "$OUT/prompts/$task/best" "$OUT/library/$task"; done
ptt prompts list "$OUT/library"
for target in imdb qnli; do
  ptt transfer rank --task "$target" --backbone minilm --library "$OUT/library" --sample 200
done
