#!/usr/bin/env bash
# Cross-model transfer onto the bundled real MiniLM from a small T5 (random weights, real tokenizer):
#   1) T5 prompts for sst2 and mr, 2) a projector task-tuned on sst2 through the frozen MiniLM,
#   3) the projected mr prompt scored zero-shot on mr next to a random MiniLM prompt.
# About 10 minutes on 2 CPU cores. Usage: examples/cross_model_demo.sh [OUT_DIR]
set -euo pipefail
OUT=${1:-runs/cross-model}
HERE="$(cd "$(dirname "$0")" && pwd)"
mkdir -p "$OUT"
[[ -f "$OUT/tiny-t5/config.json" ]] || python -m ptt.tiny t5 "$OUT/tiny-t5" --shape demo
for task in sst2 mr; do
  [[ -f "$OUT/src-$task/summary.json" ]] || ptt train --backbone "$OUT/tiny-t5" --task "$task" --prompt-length 20 \
    --max-steps 100 --eval-every 50 --lr 0.3 --max-eval-examples 400 --output-dir "$OUT/src-$task" --overwrite
done
ptt transfer project fit --source-backbone "$OUT/tiny-t5" --target-backbone minilm --objective task \
  --source-prompts "$OUT/src-sst2/best" --tasks sst2 --max-steps 150 --eval-every 50 --lr 0.005 \
  --max-eval-examples 400 --output-dir "$OUT/projector"
ptt transfer project apply --projector "$OUT/projector" --prompt "$OUT/src-mr/best" --output-dir "$OUT/mr-projected"
ptt transfer eval --prompts "$OUT/mr-projected" --tasks mr,sst2 --max-eval-examples 400 \
  --output-dir "$OUT/zero-shot"
cat "$OUT/zero-shot/matrix.csv"
