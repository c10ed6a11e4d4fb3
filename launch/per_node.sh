#!/usr/bin/env bash
# Clusters without ssh between nodes: run this on every node, each with its own --node-rank.
#   launch/per_node.sh --hostfile FILE --node-rank K --master-addr HOST [--port P] train ...
# Every node gets the same hostfile ('host slots=N' per node, in node-rank order), --master-addr (the host of
# node rank 0), --port and ptt arguments.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
HOSTFILE="" RANK="" MASTER="" PORT=29500
while [[ $# -gt 0 ]]; do
  case "$1" in
    --hostfile) HOSTFILE="${2:?--hostfile needs a file}"; shift 2 ;;
    --node-rank) RANK="${2:?--node-rank needs a number}"; shift 2 ;;
    --master-addr) MASTER="${2:?--master-addr needs a host}"; shift 2 ;;
    --port) PORT="${2:?--port needs a number}"; shift 2 ;;
    *) break ;;
  esac
done
[[ -f "$HOSTFILE" ]] || { echo "error: --hostfile '$HOSTFILE': no such file (lines 'host slots=N')" >&2; exit 2; }
if grep -vE '^\s*(#|$)' "$HOSTFILE" | grep -vqE '^\S+\s+slots=[1-9][0-9]*\s*$'; then
  echo "error: --hostfile $HOSTFILE: every line must read 'host slots=N'" >&2; exit 2
fi
NODES=$(grep -cvE '^\s*(#|$)' "$HOSTFILE")
[[ "$RANK" =~ ^[0-9]+$ ]] && (( RANK < NODES )) || {
  echo "error: --node-rank '$RANK': must be 0..$((NODES - 1)) for the $NODES nodes of $HOSTFILE" >&2; exit 2; }
[[ -n "$MASTER" ]] || { echo "error: --master-addr is required (the host of node rank 0)" >&2; exit 2; }
[[ "$PORT" =~ ^[0-9]+$ ]] || { echo "error: --port '$PORT': not a port number" >&2; exit 2; }
[[ $# -gt 0 ]] || { echo "error: no ptt command given; e.g. $0 --hostfile hosts --node-rank 0 ... train" >&2; exit 2; }
exec deepspeed --hostfile "$HOSTFILE" --no_ssh --node_rank "$RANK" --master_addr "$MASTER" --master_port "$PORT" \
  "$HERE/ptt_main.py" "$@"
