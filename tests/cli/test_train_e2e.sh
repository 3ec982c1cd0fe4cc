#!/usr/bin/env bash
# test_train_e2e.sh — the whole user path on the real default model, kept small: prepare a tiny
# chat dataset, train 2 steps, then eval (base and base + adapter), inspect the adapter file,
# inspect the adapter and the data shard, and generate with the adapter. Checks the run directory's files and the printed reports.
# Usage: test_train_e2e.sh SLMTUNE SOURCE_DIR
set -u
slmtune=$1
src=$2
model=$src/third_party/models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$model" ] || { echo "FAIL: $model is missing; run tools/fetch_models.sh (tools/test.sh does)"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

for i in 1 2 3 4 5 6; do
  printf '{"messages": [{"role": "user", "content": "What is term %d?"}, {"role": "assistant", "content": "Term %d is a word used in computing for thing number %d."}]}\n' "$i" "$i" "$i"
done > chats.jsonl
cat > tiny.yaml <<YAML
model:
  path: $model
lora:
  rank: 8
  alpha: 16
data:
  train: chats.jsonl
  eval: chats.jsonl
  seq_len: 64
train:
  max_steps: 2
  micro_batch_size: 2
  gradient_accumulation_steps: 2
  learning_rate: 1e-3
output:
  dir: runs
YAML

out=$("$slmtune" train tiny.yaml 2>&1) || fail "train exited $?:\n$out"
grep -q "step 2/2" <<<"$out" || fail "no progress line for step 2:\n$out"
grep -q "LoRA-MFU" <<<"$out" || fail "no speed report:\n$out"
grep -Eq "held-out loss [0-9.]+ -> [0-9.]+" <<<"$out" || fail "no held-out loss report:\n$out"
for f in recipe.yaml metrics.jsonl adapter/adapter_config.json adapter/adapter_model.safetensors; do
  [ -s "runs/tiny/$f" ] || fail "runs/tiny/$f is missing"
done
[ "$(grep -c '"loss"' runs/tiny/metrics.jsonl)" = 2 ] || fail "metrics.jsonl lacks 2 step lines"
grep -q '"peft_type": "LORA"' runs/tiny/adapter/adapter_config.json || fail "adapter_config.json is not PEFT's"

out=$("$slmtune" eval tiny.yaml 2>&1) || fail "eval exited $?:\n$out"
grep -q "base model *loss" <<<"$out" && grep -q "base + adapter *loss" <<<"$out" || fail "eval report:\n$out"

out=$("$slmtune" inspect runs/tiny/adapter/adapter_model.safetensors 2>&1) || fail "inspect exited $?:\n$out"
grep -q "lora_A.weight" <<<"$out" || fail "inspect does not list the adapter tensors:\n$out"

out=$("$slmtune" inspect runs/tiny/data/*/train.h5 2>&1) || fail "inspect of the data shard exited $?:\n$out"
grep -q "examples: 6" <<<"$out" || fail "inspect of the data shard does not report 6 examples:\n$out"

out=$("$slmtune" generate --model "$model" --adapter runs/tiny/adapter --chat --prompt "What is term 3?" \
      --max-new-tokens 8 2>&1) || fail "generate exited $?:\n$out"
grep -q "tokens/s" <<<"$out" || fail "generate printed no speed:\n$out"

out=$("$slmtune" train tiny.yaml data.train=missing.jsonl 2>&1)
[ $? = 1 ] && grep -q "missing.jsonl" <<<"$out" || fail "a missing data file is not named:\n$out"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "train -> eval -> inspect -> generate: all checks passed"
