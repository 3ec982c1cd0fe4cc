#!/usr/bin/env bash
# setup.sh — installs the Debian 12 packages that slmtune's build and tests need.
# Idempotent and non-interactive; prints nothing when everything is already installed; exits
# non-zero with apt's output when an install fails. The CUDA toolkit is expected at /usr/local/cuda
# (without it the build is CPU-only).
set -euo pipefail

# package                 why
packages=(
  g++                     # C++20 compiler (g++ 12)
  cmake                   # the build
  ninja-build             # fast parallel builds
  libgtest-dev            # GoogleTest suites run by CTest
  libyaml-cpp-dev         # recipes (YAML with line and column marks for errors)
  nlohmann-json3-dev      # config.json, tokenizer.json, safetensors headers, PEFT configs
  libpcre2-dev            # tokenizer pre-tokenization regexes (Unicode classes, lookahead)
  libicu-dev              # tokenizer NFC normalization (Qwen) and Unicode character classes
  libhdf5-dev             # data shards and training state
  libboost-context-dev    # fibers for the CUDA emulation harness (one per CUDA thread)
  libopenblas-openmp-dev  # CPU GEMM for frozen-weight products, threaded by OpenMP like our kernels
  zlib1g-dev              # dictzip (gzip) bodies of Debian's dictionary data
  binutils                # ar/objcopy: the CUDA build test inspects objects
  python3                 # tools/ helper scripts (the C++ tests do not need it)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "setup.sh: installing ${missing[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
if ! { $sudo apt-get update -q && $sudo -E apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup.sh: FAILED to install: ${missing[*]} (apt's output above)" >&2
  exit 1
fi
echo "setup.sh: done"
