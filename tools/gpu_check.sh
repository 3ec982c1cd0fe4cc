#!/usr/bin/env bash
# gpu_check.sh — the checks for a machine with an NVIDIA GPU (no machine of this project has one
# yet; every other test runs the CUDA kernels under the emulation harness):
#   1. a CUDA device is visible (nvidia-smi, then the CUDA runtime itself); fails early otherwise;
#   2. builds test_cuda_ops_device (the device-portable op tests of tests/emu/ops against the real
#      slm_cuda; see tests/emu/CMakeLists.txt) and bench_gpu_attention in its own build directory;
#   3. runs the device op tests, then the attention benchmark, and prints a short summary.
# Usage: tools/gpu_check.sh   Options: BUILD_DIR (default build-gpu), BENCH_ARGS (e.g. "--iters 50").
# Exit status: 0 all passed; 1 a build or a test failed; 2 no usable CUDA device.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-gpu}
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
jobs=$(nproc)

say() { echo "gpu_check: $*"; }
no_device() {
  say "no CUDA device visible: $*" >&2
  say "run this on a machine with an NVIDIA GPU of compute capability 8.0 or newer and a driver for CUDA $("$nvcc" --version 2>/dev/null | grep -o 'release [0-9.]*' | cut -d' ' -f2 || echo '?')" >&2
  exit 2
}

# --- 1. a device, before anything is built ------------------------------------------------------
if command -v nvidia-smi > /dev/null; then
  listing=$(nvidia-smi -L 2>&1) || no_device "nvidia-smi -L failed: $(head -n 1 <<< "$listing")"
  grep -q '^GPU ' <<< "$listing" || no_device "nvidia-smi lists no GPU"
fi
# What the programs will see: the CUDA runtime's own count (CUDA_VISIBLE_DEVICES, driver version).
[ -x "$nvcc" ] || no_device "no nvidia-smi, and no nvcc at $nvcc to ask the CUDA runtime (set NVCC)"
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
cat > "$probe_dir/probe.cu" << 'EOF'
#include <cstdio>
#include <cuda_runtime_api.h>
int main() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) { std::printf("cudaGetDeviceCount: %s (%s)\n", cudaGetErrorName(status), cudaGetErrorString(status)); return 1; }
  if (count == 0) { std::printf("the CUDA runtime counts 0 devices\n"); return 1; }
  int driver = 0;
  cudaDriverGetVersion(&driver);
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp p{};
    cudaGetDeviceProperties(&p, d);
    std::printf("device %d: %s, sm_%d%d, %d SMs, %.0f GiB (driver for CUDA %d.%d)\n", d, p.name, p.major, p.minor,
                p.multiProcessorCount, p.totalGlobalMem / 1073741824.0, driver / 1000, driver % 1000 / 10);
  }
  return 0;
}
EOF
"$nvcc" -o "$probe_dir/probe" "$probe_dir/probe.cu" > "$probe_dir/log" 2>&1 \
  || { cat "$probe_dir/log" >&2; say "could not build the device probe with $nvcc" >&2; exit 1; }
devices=$("$probe_dir/probe") || no_device "$devices"
say "$devices"

# --- 2. build -------------------------------------------------------------------------------------
"$root/tools/setup.sh"
mkdir -p "$build"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build/configure.log" 2>&1 \
  || { cat "$build/configure.log"; exit 1; }
grep -q "slmtune: CUDA backend ON" "$build/configure.log" \
  || { grep "slmtune:" "$build/configure.log"; say "the build found no CUDA toolkit" >&2; exit 1; }
say "building test_cuda_ops_device and bench_gpu_attention in $build"
cmake --build "$build" -j "$jobs" --target test_cuda_ops_device bench_gpu_attention

# --- 3. device op tests, then the attention benchmark ---------------------------------------------
status=0
say "device op tests (tests/emu/CMakeLists.txt: SLM_CUDA_OP_DEVICE_TESTS)"
if "$build/tests/emu/test_cuda_ops_device" 2>&1 | tee "$build/gpu_check_ops.log"; then
  ops="passed: $(grep -o '[0-9]* tests\? from [0-9]* test suites\? ran' "$build/gpu_check_ops.log" | tail -n 1)"
else
  ops="FAILED ($(grep -o '[0-9]* FAILED TESTS\?' "$build/gpu_check_ops.log" | tail -n 1 || echo 'no gtest summary: crashed?')), see $build/gpu_check_ops.log"
  status=1
fi

say "attention benchmark"
# shellcheck disable=SC2086
if "$build/tools/bench_gpu_attention" ${BENCH_ARGS:-} 2>&1 | tee "$build/gpu_check_attention.log"; then
  attention="see the table above ($build/gpu_check_attention.log)"
else
  attention="FAILED, see $build/gpu_check_attention.log"
  status=1
fi

# --- 4. training step tokens/s ----------------------------------------------------------------------
# The quickstart recipe (SmolLM2-135M, LoRA r=16 on all linear layers, 4 x 256 tokens) for 30 steps on
# the CUDA backend, then 6 steps of the same on the CPU backend for the ratio. Both are `slmtune
# train` runs with their own report line; nothing here is estimated.
say "training step: building slmtune, fetching the quickstart model and data"
cmake --build "$build" -j "$jobs" --target slmtune
(cd "$root" && tools/fetch_models.sh && tools/fetch_data.sh)
runs="$build/gpu_check_runs"
rm -rf "$runs"
step_rate() {  # backend steps -> tokens/s of that run, or "failed"
  if (cd "$root" && "$build/slmtune" train recipes/quickstart.yaml "train.backend=$1" "train.max_steps=$2" \
        "output.dir=$runs" "output.name=$1" "output.export=[]" eval.every=0) > "$runs.$1.log" 2>&1; then
    grep -o '[0-9.e+]* tokens/s' "$runs.$1.log" | tail -n 1
  else
    echo "failed (see $runs.$1.log)"
  fi
}
mkdir -p "$runs"
cuda_rate=$(step_rate cuda 30)
cpu_rate=$(step_rate cpu 6)
cat "$runs.cuda.log"
train_step="cuda $cuda_rate, cpu $cpu_rate (quickstart recipe; logs in $runs.*.log)"
case "$cuda_rate" in failed*) status=1 ;; esac

echo
echo "== gpu_check summary =="
while IFS= read -r line; do echo "device:        $line"; done <<< "$devices"
echo "op tests:      $ops"
echo "attention:     $attention"
echo "training step: $train_step"
exit $status
