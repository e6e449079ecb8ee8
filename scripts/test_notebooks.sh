#!/usr/bin/env bash
# Run every notebook's tests with nbdev-test, one notebook at a time, and end with "N passed, N failed".
# Cells flagged `slow` or `notest` are skipped (see tst_flags in pyproject.toml).
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 MPLBACKEND=Agg
passed=0 failed=0 failures=()
for notebook in nbs/[0-9]*.ipynb nbs/index.ipynb; do
  [ -f "$notebook" ] || continue
  start=$(date +%s)
  if "$BIN/nbdev-test" "$notebook" > /tmp/nbdev-test.log 2>&1; then
    passed=$((passed + 1)); echo "PASS $notebook ($(( $(date +%s) - start )) s)"
  else
    failed=$((failed + 1)); failures+=("$notebook"); echo "FAIL $notebook"; tail -40 /tmp/nbdev-test.log
  fi
done
echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
