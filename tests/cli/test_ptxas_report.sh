#!/usr/bin/env bash
# test_ptxas_report.sh — the committed ptxas table (kernels/cuda/ptxas_report.md) is current, and
# no kernel spills or keeps a stack frame (local-memory arrays pass ptxas's spill warning
# unnoticed; a stack frame is allowed only where libm's double cos/sin need one: rope_tables).
# Usage: test_ptxas_report.sh SOURCE_DIR
set -u
src=$1
fresh=$(mktemp)
trap 'rm -f "$fresh"' EXIT
"$src/tools/ptxas_report.sh" "$fresh" > /dev/null || { echo "FAIL: tools/ptxas_report.sh failed"; exit 1; }
failures=0
if ! diff -u "$src/kernels/cuda/ptxas_report.md" "$fresh" > /dev/null; then
  echo "FAIL: kernels/cuda/ptxas_report.md is stale; run tools/ptxas_report.sh and commit it. Differences:"
  diff -u "$src/kernels/cuda/ptxas_report.md" "$fresh" | head -20
  failures=$((failures + 1))
fi
# Columns: | file | kernel | arch | registers | smem | stack | spill stores / loads |
while IFS='|' read -r _ file kernel arch regs smem stack spills _; do
  [[ $spills =~ ^\ *0\ /\ 0\ *$ ]] || { echo "FAIL: spills in $file $kernel $arch: $spills"; failures=$((failures + 1)); }
  if [[ ! $stack =~ ^\ *0\ *$ && $kernel != *rope_tables* ]]; then
    echo "FAIL: $file $kernel $arch keeps a ${stack// /}-byte stack frame (local memory)"; failures=$((failures + 1))
  fi
done < <(grep '^| [a-z_]*\.cu ' "$fresh")
rows=$(grep -c '^| [a-z_]*\.cu ' "$fresh")
[ "$rows" -gt 0 ] || { echo "FAIL: the report lists no kernel"; failures=$((failures + 1)); }
[ $failures = 0 ] && echo "PASS: $rows kernel instantiations, no spills, no stack frames" || exit 1
