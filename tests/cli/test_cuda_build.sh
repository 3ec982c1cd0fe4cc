#!/usr/bin/env bash
# test_cuda_build.sh — every .cu object of the CUDA library carries machine code (SASS) for
# sm_80 and sm_90, and the program runs with cuBLAS, cuBLASLt and NCCL linked and loadable.
# Usage: test_cuda_build.sh FATBIN_ARCHES LIBSLM_CUDA SLMTUNE
set -eu
fatbin_arches=$1
library=$2
slmtune=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && ar x "$library")
cu_objects=0
for object in "$work"/*.cu.o; do
  [ -e "$object" ] || break
  cu_objects=$((cu_objects + 1))
  arches=$("$fatbin_arches" "$object")
  echo "$(basename "$object"): $(tr '\n' ' ' <<<"$arches")"
  for arch in sm_80 sm_90; do
    grep -qx "sass $arch" <<<"$arches" || { echo "FAIL: $(basename "$object") has no $arch SASS"; exit 1; }
  done
done
[ "$cu_objects" -gt 0 ] || { echo "FAIL: $library holds no .cu objects"; exit 1; }
linked=$(ldd "$slmtune")
for lib in libcublas.so libcublasLt.so libnccl.so libcudart.so; do
  grep -q "$lib" <<<"$linked" || { echo "FAIL: $slmtune does not link $lib"; exit 1; }
done
version=$("$slmtune" version)
echo "$version"
grep -Eq '^NCCL +2\.' <<<"$version" || { echo "FAIL: NCCL version not reported"; exit 1; }
grep -Eq '^cuBLASLt +[0-9]' <<<"$version" || { echo "FAIL: cuBLASLt version not reported"; exit 1; }
echo "CUDA build checks passed"
