#!/usr/bin/env bash
# Runs every kernel of cuda/src/main/cuda under the CPU emulation (cuda/src/test/cuda/emu.h) against double-precision
# references: a check of the kernels' logic on a machine without a GPU. Needs g++ (C++20) and the CUDA headers.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cuda=${CUDA_HOME:-/usr/local/cuda}
[ -f "$cuda/include/cuda_bf16.h" ] || cuda=/usr/local/cuda-13.0
bin=$(mktemp -d)/emu_test
g++ -std=c++20 -O1 -DVQWEN_EMU -I"$root/cuda/src/test/cuda" -I"$cuda/include" -Wno-unknown-pragmas -pthread \
  "$root/cuda/src/test/cuda/emu_test.cpp" -o "$bin"
"$bin"
