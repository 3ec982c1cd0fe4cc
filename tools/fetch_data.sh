#!/usr/bin/env bash
# fetch_data.sh — downloads domain data from Debian packages and turns it into chat JSONL under
# third_party/data/ (Python standard library only):
#   foldoc   dict-foldoc  -> third_party/data/foldoc-qa.jsonl   (tools/import_foldoc.py; the quickstart's data)
#   perlfaq  perl-doc     -> third_party/data/perlfaq-qa.jsonl  (tools/import_perlfaq.py)
#   manpages manpages-dev -> third_party/data/manpages-qa.jsonl (tools/import_manpages.py)
# Usage: tools/fetch_data.sh [foldoc|perlfaq|manpages|all] [--force]   (default: foldoc)
# Idempotent: each package is downloaded (apt-get download) and unpacked (dpkg-deb -x) into
# third_party/data/<package>/ once; a JSONL is rebuilt only when missing or with --force.
# Does not start dictd or install anything system-wide.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
which=foldoc
force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    foldoc|perlfaq|manpages|all) which="$arg" ;;
    *) echo "usage: tools/fetch_data.sh [foldoc|perlfaq|manpages|all] [--force]" >&2; exit 2 ;;
  esac
done

build() {  # build NAME IMPORTER
  local out="$root/third_party/data/$1-qa.jsonl"
  if [[ -s "$out" && "$force" != 1 ]]; then
    echo "fetch_data: $out is present ($(wc -l < "$out") examples); pass --force to rebuild"
    return 0
  fi
  python3 "$root/tools/$2" --out "$out"
}

case "$which" in
  foldoc) build foldoc import_foldoc.py ;;
  perlfaq) build perlfaq import_perlfaq.py ;;
  manpages) build manpages import_manpages.py ;;
  all) build foldoc import_foldoc.py; build perlfaq import_perlfaq.py; build manpages import_manpages.py ;;
esac
