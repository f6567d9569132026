#!/usr/bin/env bash
# Rebuilds cuda/src/main/resources/io/vqwen/cuda/kernels.fatbin from cuda/src/main/cuda/*.cu with nvcc, and records
# the SHA-256 of the sources and flags beside it (KernelImageTest fails when they no longer match).
# Usage: scripts/gpu/build-kernels.sh [--ptxas-report]   (needs nvcc 13.x; no GPU needed)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src=$root/cuda/src/main/cuda
out=$root/cuda/src/main/resources/io/vqwen/cuda
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$nvcc" ] || { echo "nvcc not found (set NVCC=/path/to/nvcc)" >&2; exit 1; }
read -r -a flags < "$src/nvcc.flags"
extra=()
[ "${1:-}" = "--ptxas-report" ] && extra=(-Xptxas -v)
mkdir -p "$out"
"$nvcc" "${flags[@]}" "${extra[@]}" -o "$out/kernels.fatbin" "$src/kernels.cu"
"$root/scripts/gpu/kernel-hash.sh" > "$out/kernels.fatbin.sha256"
echo "kernels.fatbin: $(stat -c %s "$out/kernels.fatbin") bytes, sources $(cat "$out/kernels.fatbin.sha256")"
