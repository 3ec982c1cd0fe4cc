#!/usr/bin/env bash
# test_resume_kill.sh — crash safety and exact resume on the tiny_chat fixture model.
#  1. A reference run trains 40 steps uninterrupted (LoRA dropout on, so the RNG state matters).
#  2. The same run is killed with SIGKILL at random moments, some of them while a checkpoint is
#     being written (the script waits for the temporary checkpoint directory to appear), and
#     stopped with SIGINT / SIGTERM (exit 130 / 143, "stopped by"), then restarted each time
#     until it completes. After every kill, every checkpoint directory must verify.
#     The final adapter must equal the reference's byte for byte, and so must every step's loss,
#     learning rate and gradient norm in metrics.jsonl.
#  3. A damaged newest checkpoint is skipped with a warning; the run resumes from the one before
#     and again ends equal to the reference.
# Usage: test_resume_kill.sh SLMTUNE SOURCE_DIR
set -u
slmtune=$1
src=$2
work=$(mktemp -d)
trap '[ "${KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT
cd "$work"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
seed=${SEED:-$$}
RANDOM=$seed
echo "seed: $seed (set SEED to replay the same kill schedule)"

for i in $(seq 1 40); do
  printf '{"messages": [{"role": "user", "content": "What is term %d?"}, {"role": "assistant", "content": "Term %d is the word for thing %d in computing."}]}\n' "$i" "$i" "$i"
done > chats.jsonl
recipe() {  # recipe NAME
  cat <<YAML
model:
  path: $src/tests/fixtures/tiny_chat
lora:
  rank: 4
  alpha: 8
  dropout: 0.1
  target_modules: [q_proj, v_proj, down_proj]
data:
  train: chats.jsonl
  seq_len: 64
train:
  max_steps: 40
  micro_batch_size: 2
  gradient_accumulation_steps: 2
  learning_rate: 1e-3
  log_every: 1
output:
  dir: runs
  name: $1
  save_every: 1
  keep_last: 2
YAML
}
recipe ref > ref.yaml
recipe killed > killed.yaml
steps_of() { grep '"loss"' "$1" | sed 's/, "target_tokens.*//'; }  # step, loss, lr, grad norm

"$slmtune" train ref.yaml > ref.log 2>&1 || { cat ref.log; echo "FAIL: the reference run failed"; exit 1; }

# Every checkpoint directory of the run verifies (inspect checks the checksum).
check_checkpoints() {
  for c in runs/killed/checkpoint-*; do
    [ -d "$c" ] || continue
    case "$c" in *.tmp-*|*.old-*) continue ;; esac
    "$slmtune" inspect "$c" > /dev/null 2>&1 || fail "after $1: $c does not verify: $("$slmtune" inspect "$c" 2>&1 | tail -1)"
  done
}

# Waits (up to 2 minutes, however loaded the machine) until the attempt has finished a step, or
# has ended; disruptions are timed from there, so every attempt makes progress.
wait_for_a_step() {
  for _ in $(seq 1 1200); do
    grep -q "^step [0-9]*/" run.log 2>/dev/null && return 0
    kill -0 "$1" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

kills=0; kills_in_save=0; signals=0; resumes=0; done_=0
# 14 disruptive attempts, then the run is left to finish.
for attempt in $(seq 1 15); do
  "$slmtune" train killed.yaml > run.log 2>&1 &
  pid=$!
  # Attempts 1, 5, 9, 13 kill during a save; the others draw among the other disruptions.
  mode=$((attempt == 15 ? 9 : attempt % 4 == 1 ? 0 : 1 + RANDOM % 3))
  if [ $mode = 0 ]; then  # SIGKILL while a checkpoint is being written
    deadline=$((SECONDS + 120))
    while [ $SECONDS -lt $deadline ]; do
      compgen -G "runs/killed/checkpoint-*.tmp-$pid" > /dev/null && break
      kill -0 $pid 2>/dev/null || break
    done
    kill -KILL $pid 2>/dev/null && compgen -G "runs/killed/checkpoint-*.tmp-$pid" > /dev/null && kills_in_save=$((kills_in_save + 1))
  elif [ $mode = 1 ]; then  # SIGINT or SIGTERM once training runs: save and stop
    wait_for_a_step $pid && sleep "0.$((RANDOM % 10))"
    sig=$([ $((RANDOM % 2)) = 0 ] && echo INT || echo TERM)
    kill -$sig $pid 2>/dev/null
  elif [ $mode != 9 ]; then  # SIGKILL at a random moment after the first step of the attempt
    wait_for_a_step $pid && sleep "0.$((RANDOM % 10))"
    kill -KILL $pid 2>/dev/null
  fi
  wait $pid 2>/dev/null
  rc=$?
  grep -q "resuming from" run.log && resumes=$((resumes + 1))
  grep -q "^slmtune.*error" run.log && fail "attempt $attempt failed: $(grep error run.log)"
  case $rc in
    0) done_=1; break ;;
    137) kills=$((kills + 1)) ;;
    130|143) signals=$((signals + 1))
             grep -q "stopped by SIG" run.log || fail "exit $rc without the 'stopped by' report: $(tail -3 run.log)" ;;
    *) fail "attempt $attempt: exit status $rc: $(tail -5 run.log)"; break ;;
  esac
  check_checkpoints "attempt $attempt (exit $rc)"
done
echo "killed $kills times ($kills_in_save during a save), stopped by signal $signals times, resumed $resumes times"
[ $done_ = 1 ] || fail "the killed run did not complete"
[ $kills_in_save -ge 1 ] || fail "no kill landed during a save"
[ $resumes -ge 3 ] || fail "only $resumes resumes happened"
cmp -s runs/ref/adapter/adapter_model.safetensors runs/killed/adapter/adapter_model.safetensors \
  || fail "the resumed run's adapter differs from the uninterrupted run's"
diff <(steps_of runs/ref/metrics.jsonl) <(steps_of runs/killed/metrics.jsonl) > metrics.diff \
  || fail "the resumed run's losses differ from the uninterrupted run's ($work/metrics.diff): $(head -5 metrics.diff)"

# A damaged newest checkpoint: the run falls back to the previous one and ends the same.
state=runs/killed/checkpoint-40/training_state.h5
size=$(stat -c %s "$state")
printf 'XXXXXXXX' | dd of="$state" bs=1 seek=$((size / 2)) conv=notrunc status=none
out=$("$slmtune" train killed.yaml 2>&1) || fail "train after damaging checkpoint-40 failed: $out"
grep -q "warning: skipping runs/killed/checkpoint-40" <<<"$out" || fail "no warning about the damaged checkpoint:\n$out"
grep -q "resuming from runs/killed/checkpoint-39" <<<"$out" || fail "did not resume from checkpoint-39:\n$out"
cmp -s runs/ref/adapter/adapter_model.safetensors runs/killed/adapter/adapter_model.safetensors \
  || fail "after the fallback, the adapter differs from the uninterrupted run's"

[ $failures = 0 ] && echo "PASS" || { echo "$failures failure(s)"; exit 1; }
