#!/usr/bin/env bash
# GPU figures of benchmarks/throughput.py on one H100/H200, in under 8 minutes: T5 v1.1-large and
# RoBERTa-large shapes, bf16, ptt vs PEFT + Trainer, with MFU under two named FLOP counts (4NT: the frozen
# backbone's forward + activation backward, the work done; 6NT: the full-training count). No network needed.
#   benchmarks/gpu_check.sh [extra throughput.py flags, e.g. --ds-config zero2_bf16]
# Packages missing on the machine (deepspeed, datasets, ...) can be carried as wheels in .whl/ at the
# repository root; they are installed into /tmp/ptt-site first (see benchmarks/README.md).
# Results: printed, and written as JSON to $OUT (or /tmp) as gpu_t5.json and gpu_roberta.json.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
RESULTS=${OUT:-/tmp}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false

fail() { echo "gpu_check: $*" >&2; exit "${2:-1}"; }

command -v nvidia-smi >/dev/null 2>&1 || fail "nvidia-smi not found: this check needs an NVIDIA GPU machine (run benchmarks/throughput.py for the CPU figures)"
nvidia-smi -L 2>/dev/null | grep -q "^GPU" || fail "nvidia-smi lists no GPU: $(nvidia-smi -L 2>&1 | head -1)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

if compgen -G ".whl/*.whl" >/dev/null; then
  echo "gpu_check: installing carried wheels: $(ls .whl | tr '\n' ' ')"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/ptt-site .whl/*.whl \
    || fail "installing the wheels in .whl/ failed" 2
  export PYTHONPATH=/tmp/ptt-site${PYTHONPATH:+:$PYTHONPATH}
fi

"$PY" - <<'EOF' || exit $?
import importlib, sys
need = ["torch", "transformers", "peft", "accelerate", "deepspeed", "datasets", "sentencepiece", "safetensors",
        "click", "tqdm", "tensorboard", "matplotlib"]
missing = []
for name in need:
    try:
        importlib.import_module(name)
    except Exception as e:  # an installed package whose own dependency is missing fails here too
        missing.append(f"{name} ({type(e).__name__}: {e})")
if missing:
    print("gpu_check: cannot import: " + "; ".join(missing), file=sys.stderr)
    print("gpu_check: carry wheels for them (and their missing dependencies) in .whl/; see benchmarks/README.md",
          file=sys.stderr)
    sys.exit(2)
import torch
if not torch.cuda.is_available():
    print(f"gpu_check: torch {torch.__version__} sees no CUDA device", file=sys.stderr)
    sys.exit(1)
import deepspeed, peft, transformers
print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}, "
      f"deepspeed {deepspeed.__version__}, GPU {torch.cuda.get_device_name()}")
EOF
command -v nvcc >/dev/null 2>&1 || echo "gpu_check: warning: no nvcc on PATH; DeepSpeed's FusedAdam (ptt's CUDA optimizer) is JIT-compiled and needs it"

COMMON=(--precision bf16 --steps 50 --warmup 10 --breakdown-steps 5 --batch-size 32 --seq-len 128 --prompt-length 100
        --train-examples 2048 --eval-examples 512 --eval-batch-size 128)
status=0
# The first ptt session JIT-compiles FusedAdam (about 1-2 minutes, cached for the second run).
echo "+ T5 v1.1-large shape"
timeout 300 "$PY" benchmarks/throughput.py --backbone t5 --t5-config t5-v1_1-large "${COMMON[@]}" \
  --json "$RESULTS/gpu_t5.json" "$@" || { echo "gpu_check: the T5 run failed or timed out (rc $?)" >&2; status=1; }
echo "+ RoBERTa-large shape"
timeout 150 "$PY" benchmarks/throughput.py --backbone roberta --roberta-config roberta-large "${COMMON[@]}" \
  --json "$RESULTS/gpu_roberta.json" "$@" || { echo "gpu_check: the RoBERTa run failed or timed out (rc $?)" >&2; status=1; }
nvidia-smi --query-gpu=name,clocks.sm,temperature.gpu,power.draw --format=csv,noheader
exit $status
