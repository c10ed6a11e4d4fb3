#!/usr/bin/env bash
# The paper's findings on two real models side by side: the bundled SmolLM2-135M-Instruct (decoder-only, read from
# its GGUF file) and the bundled MiniLM (encoder, ptt's cosine verbalizer), on the packaged real data.
#   1) a prompt per task and model: sentiment sst2, mr; NLI snli, mnli; paraphrase qqp, mrpc (length 20);
#   2) the zero-shot transfer matrix per model (accuracy, macro-F1, majority class; + a random-prompt row);
#   3) transferred vs random initialization on two targets, each from a same-type source (mr <- sst2,
#      snli <- mnli), 3 seeds, paired;
#   4) cross-model transfer in both directions onto mr, whose prompt the projectors never see: a projector fitted
#      by distance minimization on the other five tasks' prompt pairs, one task-tuned on sst2 through the target
#      model, and data-free recycling (v2v-lin over the tokens both vocabularies share), each arm against random;
#   5) generation with SmolLM2: squad and samsum, no prompt vs a trained prompt;
#   6) the indicators and their correlation with the transfer matrix, per model.
# examples/two_models_table.py OUT prints every table. Steps finished earlier are skipped (rerun to resume).
# Usage: examples/two_models_study.sh [OUT]
set -euo pipefail
OUT=${1:-runs/two-models}
TASKS=(sst2 mr snli mnli qqp mrpc)
MODELS=(smollm2 minilm)
declare -A LR=([smollm2]=0.3 [minilm]=0.1)      # each model's own learning rate, used by every run on it
declare -A STEPS=([smollm2]=100 [minilm]=200)   # source prompts' steps
L=20
EVAL=(--max-eval-examples 200)                  # source prompts and the transfer matrices
# the convergence comparisons (every arm, both models): 30 steps at batch 8, evaluated at 0, 15, 30 on 100 dev examples
CMP=(--seeds 3 --max-steps 30 --eval-every 15 --batch-size 8 --max-eval-examples 100)
done_or() { [[ -f "$1" ]]; }

# 1) source prompts
for m in "${MODELS[@]}"; do
  for t in "${TASKS[@]}"; do
    done_or "$OUT/$m/prompts/$t/summary.json" ||
      ptt train --backbone "$m" --task "$t" --prompt-length $L --lr "${LR[$m]}" --max-steps "${STEPS[$m]}" \
        --eval-every 50 "${EVAL[@]}" --output-dir "$OUT/$m/prompts/$t" --overwrite
  done
done

# 2) zero-shot transfer matrices (each prompt's last/: no selection on the dev sets it is scored on)
for m in "${MODELS[@]}"; do
  prompts=(); for t in "${TASKS[@]}"; do prompts+=("$OUT/$m/prompts/$t/last"); done
  done_or "$OUT/$m/matrix/matrix.json" ||
    ptt transfer eval --prompts "${prompts[@]}" --tasks "$(IFS=,; echo "${TASKS[*]}")" "${EVAL[@]}" \
      --output-dir "$OUT/$m/matrix"
done

# 3) transferred vs random initialization, same-type sources
for m in "${MODELS[@]}"; do
  for pair in mr:sst2 snli:mnli; do
    target=${pair%%:*}; source=${pair##*:}
    done_or "$OUT/$m/compare-$target/report.json" ||
      ptt transfer compare --task "$target" --arms "random,from:$OUT/$m/prompts/$source/last" "${CMP[@]}" \
        --lr "${LR[$m]}" --output-dir "$OUT/$m/compare-$target"
  done
done

# 4) cross-model transfer onto mr, both directions
for dir in minilm:smollm2 smollm2:minilm; do
  a=${dir%%:*}; b=${dir##*:}; x="$OUT/cross/$a-to-$b"
  fit=(); for t in "${TASKS[@]}"; do
    [[ $t == mr ]] && continue
    fit+=(--source-prompts "$OUT/$a/prompts/$t/last" --target-prompts "$OUT/$b/prompts/$t/last")
  done
  done_or "$x/distance/projector.json" ||
    ptt transfer project fit --source-backbone "$a" --target-backbone "$b" --objective distance "${fit[@]}" \
      --output-dir "$x/distance"
  done_or "$x/task/projector.json" ||
    ptt transfer project fit --source-backbone "$a" --target-backbone "$b" --objective task \
      --source-prompts "$OUT/$a/prompts/sst2/last" --tasks sst2 --max-steps 50 --eval-every 25 --batch-size 8 \
      --max-eval-examples 100 --output-dir "$x/task"
  for obj in distance task; do
    done_or "$x/mr-$obj/prompt.json" ||
      ptt transfer project apply --projector "$x/$obj" --prompt "$OUT/$a/prompts/mr/last" --output-dir "$x/mr-$obj"
  done
  done_or "$x/compare-mr/report.json" ||
    ptt transfer compare --task mr --backbone "$b" "${CMP[@]}" --lr "${LR[$b]}" \
      --arms "random,from:$x/mr-distance,from:$x/mr-task,recycle:$OUT/$a/prompts/mr/last" --output-dir "$x/compare-mr"
done

# 5) generation with SmolLM2 (the inputs: squad context + question, samsum dialogue)
declare -A GEN=([squad]="--max-length 320 --max-eval-examples 60" [samsum]="--max-length 320 --max-eval-examples 30")
for t in squad samsum; do
  # shellcheck disable=SC2086
  done_or "$OUT/smollm2/gen/$t/summary.json" ||
    ptt train --backbone smollm2 --task "$t" --prompt-length $L --lr 0.3 --batch-size 8 --max-steps 40 \
      --eval-every 40 ${GEN[$t]} --output-dir "$OUT/smollm2/gen/$t" --overwrite
done

# 6) indicators vs the transfer matrix
for m in "${MODELS[@]}"; do
  prompts=(); for t in "${TASKS[@]}"; do prompts+=("$OUT/$m/prompts/$t/last"); done
  done_or "$OUT/$m/indicators/indicators.json" ||
    ptt indicators --prompts "${prompts[@]}" --transfer-matrix "$OUT/$m/matrix/matrix.json" \
      --output-dir "$OUT/$m/indicators"
done

python "$(dirname "$0")/two_models_table.py" "$OUT" | tee "$OUT/tables.md"
