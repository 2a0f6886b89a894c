#!/usr/bin/env bash
# GPU sprint (see training/gpu_sprint.py). Two steps:
#   here, once:            training/gpu_sprint.sh pack          -> sprint/fer2013_train.npz.xz (~48 MB, git-ignored)
#   on the lent GPU:       device run, carry ["sprint"], command:
#                          bash training/gpu_sprint.sh train    (writes <name>.tar + sprint.json under $OUT)
#   back here:             training/gpu_sprint.sh import <files_at>   then finalize_model.py each folder
# BUDGET (seconds, default 420) is the training time of all entries together: one command of <= 8 min.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
case "${1:-}" in
  pack)   shift; exec "$PY" training/gpu_sprint.py pack "$@" ;;
  train)  shift; exec "$PY" training/gpu_sprint.py train --out "${OUT:?set OUT to the output folder}" \
                      --budget-s "${BUDGET:-420}" "$@" ;;
  import) shift; exec "$PY" training/gpu_sprint.py import "$@" ;;
  *) echo "usage: $0 pack|train|import [options]" >&2; exit 2 ;;
esac
