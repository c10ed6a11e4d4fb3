#!/usr/bin/env bash
# One MiniLM prompt per task (length 20, 200 steps, dev subsets of 500) into OUT/prompts/<task>, the
# prompts the study scripts share; a task whose run finished (summary.json) is not trained again.
# Usage: examples/train_prompts.sh OUT TASK...
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: $0 OUT TASK..." >&2; exit 2; }
OUT=$1; shift
for task in "$@"; do
  if [[ ! -f "$OUT/prompts/$task/summary.json" ]]; then
    ptt train --task "$task" --backbone minilm --prompt-length 20 --max-eval-examples 500 --max-steps 200 \
      --eval-every 50 --output-dir "$OUT/prompts/$task" --overwrite
  fi
done
