#!/usr/bin/env bash
# Which start is best for my task? All initializations side by side on the bundled real MiniLM and packaged real
# data: a library of prompts trained on six tasks (sentiment: sst2, mr, laptop; NLI: snli, mnli, qnli), then for two
# sentiment targets (restaurant, tweeteval; neither's own prompt is in the library) every arm on 5 seeds: random,
# vocab, one arm per library prompt, auto (the top-ranked), avg (the mean of the top 3) and mix (the attention
# mixture). The target's own prompts feed the indicators; examples/many_sources_table.py prints the table.
# About 2 hours on 2 CPU cores (measured: the eight prompts about 25 minutes, each target's 55 runs about 47).
# Usage: examples/many_sources_study.sh [OUT] [TARGET...]
set -euo pipefail
OUT=${1:-runs/many-sources}; shift || true
if [[ $# -gt 0 ]]; then TARGETS=("$@"); else TARGETS=(restaurant tweeteval); fi
LIB_TASKS=(sst2 mr laptop snli mnli qnli)
here="$(dirname "$0")"
"$here/train_prompts.sh" "$OUT" "${LIB_TASKS[@]}" "${TARGETS[@]}"
mkdir -p "$OUT/library"  # the trained prompts after 200 steps (last/), one per task; never a target's own
for task in "${LIB_TASKS[@]}"; do rm -rf "$OUT/library/$task"; cp -r "$OUT/prompts/$task/last" "$OUT/library/$task"; done
ARMS="random,vocab"
for task in "${LIB_TASKS[@]}"; do ARMS+=",from:$OUT/library/$task"; done
ARMS+=",auto:$OUT/library,avg:$OUT/library:3,mix:$OUT/library"
for target in "${TARGETS[@]}"; do
  [[ -f "$OUT/compare-$target/report.json" ]] ||
    ptt transfer compare --task "$target" --arms "$ARMS" --seeds 5 --max-steps 40 --eval-every 10 \
      --max-eval-examples 200 --max-length 64 --output-dir "$OUT/compare-$target"
done
own=(); for task in "${LIB_TASKS[@]}" "${TARGETS[@]}"; do own+=(--prompts "$OUT/prompts/$task/last"); done
ptt indicators "${own[@]}" --output-dir "$OUT/indicators"
python "$here/many_sources_table.py" "$OUT" "${TARGETS[@]}" | tee "$OUT/table.md"
