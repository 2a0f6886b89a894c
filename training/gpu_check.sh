#!/usr/bin/env bash
# GPU check (see training/gpu_check.py): ONE command of at most 8 minutes on a lent GPU machine.
#   here, once:       bash training/gpu_check.sh pack        -> sprint/gpu_check.npz (git-ignored: 1,000
#                                                              PublicTest faces + book.mkv, ~2 MiB)
#   on the GPU:       device run, carry ["sprint"], command:  bash training/gpu_check.sh run
#                     -> $OUT/gpu_check.json, gpu_check.md (README-ready tables), bench.json/.txt, logs
# It checks CUDA inference against the CPU on every shipped model, runs the live pipeline and
# `ferapp bench` on the GPU, a 1-rank nccl DDP training step (torchrun) and a short AMP run.
# BUDGET (seconds, default 420) is shared by the steps; `timeout` ends the whole command at 470 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
case "${1:-}" in
  pack) shift; exec "$PY" training/gpu_check.py pack "$@" ;;
  run)  shift; exec timeout --signal=INT --kill-after=10 470 "$PY" training/gpu_check.py run \
                    --out "${OUT:?set OUT to the output folder}" --budget-s "${BUDGET:-420}" "$@" ;;
  *) echo "usage: $0 pack|run [options]" >&2; exit 2 ;;
esac
