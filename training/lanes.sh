#!/usr/bin/env bash
# Run recipes one after another (one "lane"); used to queue the CPU trainings in the background.
#   training/lanes.sh recipe1 recipe2 ...   (names without .json); logs in runs/<name>.log
cd "$(dirname "$0")/.."
for name in "$@"; do
  echo "=== $name $(date +%T)"
  .venv/bin/python training/run_recipe.py "training/recipes/$name.json" > "runs/$name.log" 2>&1
  echo "=== $name exit $? $(date +%T)"
done
