#!/usr/bin/env bash
# test_cli.sh — the slmtune command line as a user meets it: help texts, usage errors with exit
# code 2, recipe errors with exit code 1 and their places, overrides, --print-config round trip,
# and the resolved recipe written into the run directory.
# Usage: test_cli.sh SLMTUNE SOURCE_DIR
set -u
slmtune=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0

fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect CODE PATTERN -- command...: runs the command, checks its exit code and that its combined
# output matches the extended regular expression PATTERN.
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$("$@" 2>&1 </dev/null)
  rc=$?
  [ "$rc" = "$code" ] || fail "'$*' exited $rc, expected $code; output:\n$out"
  grep -Eq -- "$pattern" <<<"$out" || fail "'$*' output lacks /$pattern/:\n$out"
}

expect 0 '^usage: slmtune COMMAND' -- "$slmtune" --help
expect 2 '^usage: slmtune COMMAND' -- "$slmtune"
expect 2 "unknown command 'trian'" -- "$slmtune" trian
for c in prepare train eval export logits generate inspect version; do
  expect 0 "^usage: slmtune $c" -- "$slmtune" "$c" --help
done
expect 2 "unknown option '--lr'" -- "$slmtune" train x.yaml --lr 3
expect 2 "did you mean '--print-config'" -- "$slmtune" train x.yaml --print-confg
expect 2 "usage: slmtune train" -- "$slmtune" train x.yaml --bogus
expect 2 "unexpected argument 'extra'" -- "$slmtune" train x.yaml extra
expect 2 "needs FILE" -- "$slmtune" inspect
expect 0 '^slmtune [0-9]+\.[0-9]+\.[0-9]+' -- "$slmtune" version
expect 1 "not a directory; give a run directory" -- "$slmtune" export nowhere --format peft --out o
mkdir -p empty_dir
expect 1 "holds no adapter_config.json, training_state.h5 or recipe.yaml" -- "$slmtune" export empty_dir --out o
expect 2 "resume and --no-resume exclude each other" -- "$slmtune" train "$src/recipes/quickstart.yaml" \
  output.dir=cli_runs --resume x --no-resume
expect 0 "total .* GiB of 24.00 GiB: fits" -- "$slmtune" train "$src/recipes/quickstart.yaml" --plan \
  "model.path=$src/tests/fixtures/tiny_chat"
expect 0 "does NOT fit" -- "$slmtune" train "$src/recipes/quickstart.yaml" --plan --gpu-memory 64MiB \
  "model.path=$src/tests/fixtures/tiny_chat"
expect 1 "'lots' is not a memory size" -- "$slmtune" train "$src/recipes/quickstart.yaml" --plan --gpu-memory lots \
  "model.path=$src/tests/fixtures/tiny_chat"
# train.backend: cuda on a machine without a GPU fails before loading anything, naming the key.
if ! nvidia-smi -L > /dev/null 2>&1; then
  expect 1 "train.backend: cuda, but (no CUDA device is visible|this slmtune was built without CUDA)" -- \
    "$slmtune" train "$src/recipes/quickstart.yaml" output.dir=cli_runs train.backend=cuda
fi
expect 2 "is not a token id" -- "$slmtune" logits --model m --tokens 1,x --out o.safetensors
expect 2 "--merge needs --adapter" -- "$slmtune" logits --model m --tokens 1 --merge --out o.safetensors

# Recipe errors: exit 1, file:line:column, the closest key.
cat > bad.yaml <<'YAML'
model:
  path: m.gguf
data:
  train: d.jsonl
train:
  lerning_rate: 0.001
YAML
expect 1 "bad.yaml:6:3: unknown key 'lerning_rate' in section 'train'; did you mean 'learning_rate'\?" -- \
  "$slmtune" train bad.yaml --print-config
expect 1 "recipe not found" -- "$slmtune" train missing.yaml

# Overrides and --print-config: the printed recipe reads back to the same recipe.
cp "$src/recipes/quickstart.yaml" q.yaml
expect 0 'rank: 4' -- "$slmtune" train q.yaml lora.rank=4 --print-config
expect 1 "lora.rank: expected an integer, got 'four'" -- "$slmtune" train q.yaml lora.rank=four --print-config
"$slmtune" train q.yaml lora.rank=4 train.learning_rate=3e-5 --print-config > printed.yaml 2>&1 || fail "print-config failed"
"$slmtune" train printed.yaml --print-config > printed_again.yaml 2>&1 || fail "printed recipe does not load"
cmp -s printed.yaml printed_again.yaml || fail "print-config does not round-trip:\n$(diff printed.yaml printed_again.yaml)"

# Every run records its resolved recipe in its run directory.
"$slmtune" train q.yaml output.dir=out lora.rank=8 > /dev/null 2>&1
[ -f out/q/recipe.yaml ] || fail "train did not write out/q/recipe.yaml"
grep -q 'rank: 8' out/q/recipe.yaml || fail "out/q/recipe.yaml lacks the override"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all command-line checks passed"
