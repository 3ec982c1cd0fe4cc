#!/usr/bin/env bash
# test_export.sh — exports through the command line on the tiny_chat fixture, and back in:
#  - a recipe's output.export list runs when training ends (every format lands in <run>/export/);
#  - round trips: the PEFT export gives the same logits as the run's adapter; the merged HF
#    export (f32) and the merged GGUF (f32) give the same logits, bit for bit, as the base with the
#    adapter folded in (`slmtune logits --merge`); the f16 / q8_0 GGUFs and the gguf-lora load;
#  - refusals: a non-empty --out without --force, a DoRA adapter as gguf-lora, a bad --dtype;
#    --force replaces; a run directory exports its newest checkpoint, a checkpoint its own step;
#  - a recipe's chat template override goes into the merged and GGUF exports.
# Usage: test_export.sh SLMTUNE SOURCE_DIR
set -u
slmtune=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
model=$src/tests/fixtures/tiny_chat

for i in $(seq 1 16); do
  printf '{"messages": [{"role": "user", "content": "What is term %d?"}, {"role": "assistant", "content": "Term %d is thing %d."}]}\n' "$i" "$i" "$i"
done > chats.jsonl
recipe() {  # recipe NAME USE_DORA
  cat <<YAML
model:
  path: $model
lora:
  rank: 8
  alpha: 16
  use_dora: $2
  target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
data:
  train: chats.jsonl
  seq_len: 64
train:
  max_steps: 6
  micro_batch_size: 2
  learning_rate: 1e-2
output:
  dir: runs
  name: $1
  save_every: 3
  keep_last: 3
  export: [peft, merged, gguf, gguf_lora]
  merged_dtype: f32
YAML
}
recipe plain false > plain.yaml
recipe dora true > dora.yaml
out=$("$slmtune" train plain.yaml 2>&1) || fail "train with exports exited $?:\n$out"
for f in adapter/adapter_model.safetensors export/merged/model.safetensors export/merged/config.json \
         export/merged/tokenizer.json export/merged/tokenizer_config.json export/gguf/model-f16.gguf \
         export/gguf_lora/lora-f32.gguf; do
  [ -s "runs/plain/$f" ] || fail "the recipe's exports did not write runs/plain/$f"
done

tokens=3000,17,600,1234,2999,5,77,3009,42,8
logits() { "$slmtune" logits --tokens $tokens --out "$@" > /dev/null 2>&1 || fail "logits $*: $("$slmtune" logits --tokens $tokens --out "$@" 2>&1 | tail -1)"; }
same() { cmp -s "$1" "$2" || fail "$3: logits differ"; }

logits run.st --model "$model" --adapter runs/plain/adapter
logits merged_ref.st --model "$model" --adapter runs/plain/adapter --merge
"$slmtune" export runs/plain --format peft --out peft > export.log 2>&1 || fail "export peft: $(tail -2 export.log)"
grep -q "exporting runs/plain/checkpoint-6 (step 6)" export.log || fail "a run should export its newest checkpoint:\n$(cat export.log)"
logits peft.st --model "$model" --adapter peft
same run.st peft.st "PEFT export vs the run's adapter"
"$slmtune" export runs/plain --format merged --dtype f32 --out merged > export.log 2>&1 || fail "export merged: $(tail -2 export.log)"
logits merged.st --model merged
same merged_ref.st merged.st "merged f32 export vs merged in memory"
"$slmtune" export runs/plain --format gguf --dtype f32 --out gguf32 > export.log 2>&1 || fail "export gguf f32: $(tail -2 export.log)"
logits gguf32.st --model gguf32/model-f32.gguf
same merged_ref.st gguf32.st "merged GGUF f32 export vs merged in memory"
for t in f16 q8_0; do
  "$slmtune" export runs/plain --format gguf --dtype $t --out gguf_$t > export.log 2>&1 || fail "export gguf $t: $(tail -2 export.log)"
  "$slmtune" inspect gguf_$t/model-$t.gguf | grep -qi "$t" || fail "inspect does not show $t tensors in the GGUF"
  logits gguf_$t.st --model gguf_$t/model-$t.gguf
done
"$slmtune" export runs/plain/checkpoint-3 --format gguf-lora --out lora3 > export.log 2>&1 || fail "export gguf-lora: $(tail -2 export.log)"
"$slmtune" inspect lora3/lora-f32.gguf | grep -q "lora_a" || fail "the gguf-lora export has no lora_a tensors"

# Refusals and --force.
out=$("$slmtune" export runs/plain --format peft --out peft 2>&1) && fail "a non-empty --out was overwritten without --force"
grep -q "add --force" <<<"$out" || fail "no --force hint:\n$out"
echo keep > peft/extra.txt
"$slmtune" export runs/plain --format peft --out peft --force > /dev/null 2>&1 || fail "--force did not export"
[ -e peft/extra.txt ] && fail "--force left the old contents"
out=$("$slmtune" export runs/plain --format merged --dtype q8_0 --out bad 2>&1) && fail "merged q8_0 was accepted"
grep -q "choose one of f32, f16, bf16" <<<"$out" || fail "bad --dtype message:\n$out"
out=$("$slmtune" train dora.yaml output.export=[peft] 2>&1) || fail "DoRA training failed:\n$out"
out=$("$slmtune" export runs/dora --format gguf-lora --out dora_lora 2>&1) && fail "a DoRA gguf-lora export was accepted"
grep -q "error (llama.cpp): a DoRA adapter cannot be a llama.cpp LoRA" <<<"$out" || fail "DoRA refusal message:\n$out"
[ -e dora_lora ] && [ -n "$(ls -A dora_lora)" ] && fail "the refused export wrote files"
"$slmtune" export runs/dora --format merged --dtype f32 --out dora_merged > /dev/null 2>&1 || fail "DoRA merged export failed"
logits dora_ref.st --model "$model" --adapter runs/dora/adapter --merge
logits dora_merged.st --model dora_merged
same dora_ref.st dora_merged.st "DoRA merged export vs merged in memory"

out=$("$slmtune" export runs/plain --format peft --out moved --model nowhere.gguf 2>&1) && fail "a missing base model was accepted"
grep -q "nowhere.gguf: the base model given by --model is not there" <<<"$out" || fail "missing base message:\n$out"

# A recipe's chat template override travels with the merged HF and GGUF exports.
printf '%s\n' "{% for m in messages %}<|start_header_id|>{{ m['role'] }}<|end_header_id|>{{ m['content'] }}<|eot_id|>{% endfor %}" \
  "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>{% endif %}" > custom.jinja
out=$("$slmtune" train plain.yaml output.name=custom model.chat_template=custom.jinja train.max_steps=2 \
      "output.export=[gguf, merged]" 2>&1) || fail "training with a template override failed:\n$out"
"$slmtune" inspect runs/custom/export/gguf/model-f16.gguf | grep -q 'chat template: "{% for m in messages %}' \
  || fail "the GGUF export does not carry the recipe's chat template"
grep -q '{% for m in messages %}' runs/custom/export/merged/tokenizer_config.json \
  || fail "the merged export does not carry the recipe's chat template"

[ $failures = 0 ] && echo "PASS" || { echo "$failures failure(s)"; exit 1; }
