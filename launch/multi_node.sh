#!/usr/bin/env bash
# Several nodes from one command: the deepspeed launcher reaches every host of the hostfile over pdsh (or ssh).
#   launch/multi_node.sh --hostfile FILE [--master-addr HOST] [--port P] [--launcher pdsh|openmpi|mpich|...] train ...
# Hostfile lines: "hostname slots=GPUS" (see launch/hostfile.example). The first host is the master by default.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
HOSTFILE="" MASTER="" PORT=29500 LAUNCHER=pdsh
while [[ $# -gt 0 ]]; do
  case "$1" in
    --hostfile) HOSTFILE="${2:?--hostfile needs a file}"; shift 2 ;;
    --master-addr) MASTER="${2:?--master-addr needs a host}"; shift 2 ;;
    --port) PORT="${2:?--port needs a number}"; shift 2 ;;
    --launcher) LAUNCHER="${2:?--launcher needs a name}"; shift 2 ;;
    *) break ;;
  esac
done
[[ -n "$HOSTFILE" ]] || { echo "error: --hostfile is required (lines 'host slots=N')" >&2; exit 2; }
[[ -f "$HOSTFILE" ]] || { echo "error: --hostfile $HOSTFILE: no such file" >&2; exit 2; }
if grep -vE '^\s*(#|$)' "$HOSTFILE" | grep -vqE '^\S+\s+slots=[1-9][0-9]*\s*$'; then
  echo "error: --hostfile $HOSTFILE: every line must read 'host slots=N'" >&2; exit 2
fi
[[ $# -gt 0 ]] || { echo "error: no ptt command given; e.g. $0 --hostfile hosts train --task sst2" >&2; exit 2; }
NODES=$(grep -cvE '^\s*(#|$)' "$HOSTFILE")
MASTER="${MASTER:-$(grep -vE '^\s*(#|$)' "$HOSTFILE" | head -n1 | awk '{print $1}')}"
exec deepspeed --hostfile "$HOSTFILE" --num_nodes "$NODES" --master_addr "$MASTER" --master_port "$PORT" \
  --launcher "$LAUNCHER" "$HERE/ptt_main.py" "$@"
