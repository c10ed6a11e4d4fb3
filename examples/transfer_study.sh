#!/usr/bin/env bash
# Cross-task transfer with the bundled real MiniLM on the packaged real data:
#   1) a prompt per task (sentiment: sst2, mr; NLI: snli, mnli),
#   2) the zero-shot transfer matrix over the four tasks (+ a random-prompt row),
#   3) random vs transferred initialization on MR from the SST-2 prompt, 3 seeds.
# About 30 minutes on 2 CPU cores. Usage: examples/transfer_study.sh [OUT_DIR]
set -euo pipefail
OUT=${1:-runs/transfer-study}
TASKS=(sst2 mr snli mnli)
"$(dirname "$0")/train_prompts.sh" "$OUT" "${TASKS[@]}"

prompts=()
for task in "${TASKS[@]}"; do prompts+=(--prompts "$OUT/prompts/$task/best"); done
ptt transfer eval "${prompts[@]}" --tasks "$(IFS=,; echo "${TASKS[*]}")" --max-eval-examples 500 \
  --output-dir "$OUT/matrix"

ptt transfer compare --task mr --source "$OUT/prompts/sst2/best" --seeds 3 --max-steps 100 --eval-every 10 \
  --max-eval-examples 400 --output-dir "$OUT/compare-sst2-to-mr"
cat "$OUT/matrix/matrix.csv" "$OUT/compare-sst2-to-mr/report.md"
