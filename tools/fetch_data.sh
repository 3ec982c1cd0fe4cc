#!/usr/bin/env bash
# fetch_data.sh — downloads the quickstart's domain data: FOLDOC from Debian's dict-foldoc,
# unpacked into third_party/data/dict-foldoc/ and turned into chat JSONL at
# third_party/data/foldoc-qa.jsonl by tools/import_foldoc.py (Python standard library only).
# Idempotent: the package is downloaded once; the JSONL is rebuilt only when missing.
# Does not start dictd or install anything system-wide.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/third_party/data/foldoc-qa.jsonl"
if [[ -s "$out" && "${1:-}" != "--force" ]]; then
  echo "fetch_data: $out is present ($(wc -l < "$out") examples); pass --force to rebuild"
  exit 0
fi
python3 "$root/tools/import_foldoc.py" --out "$out"
