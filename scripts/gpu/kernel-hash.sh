#!/usr/bin/env bash
# SHA-256 over the kernel sources and nvcc flags, the way KernelImageTest computes it: for each *.cu / *.cuh file of
# cuda/src/main/cuda in byte order, its name, a newline and its bytes; then nvcc.flags.
set -euo pipefail
src=$(cd "$(dirname "$0")/../../cuda/src/main/cuda" && pwd)
cd "$src"
{
  for f in $(ls -1 -- *.cu *.cuh | LC_ALL=C sort); do printf '%s\n' "$f"; cat "$f"; done
  cat nvcc.flags
} | sha256sum | cut -d' ' -f1
