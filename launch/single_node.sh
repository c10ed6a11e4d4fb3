#!/usr/bin/env bash
# All local GPUs (or N CPU ranks on a machine without GPUs) through the deepspeed launcher.
#   launch/single_node.sh [--gpus N] [--port P] train|eval|transfer ... (ptt arguments)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
GPUS="" PORT=29500
while [[ $# -gt 0 ]]; do
  case "$1" in
    --gpus) GPUS="${2:?--gpus needs a number}"; shift 2 ;;
    --port) PORT="${2:?--port needs a number}"; shift 2 ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || { echo "error: no ptt command given; e.g. $0 train --task sst2" >&2; exit 2; }
[[ -z "$GPUS" || "$GPUS" =~ ^[1-9][0-9]*$ ]] || { echo "error: --gpus $GPUS: not a positive integer" >&2; exit 2; }
command -v deepspeed >/dev/null || { echo "error: the deepspeed launcher is not on PATH; pip install -e ." >&2; exit 2; }
exec deepspeed ${GPUS:+--num_gpus "$GPUS"} --master_port "$PORT" "$HERE/ptt_main.py" "$@"
