#!/usr/bin/env bash
# The one command the GPU machine runs (through the device tool, with .bundle carried):
#   1. every CUDA op against the CPU backend on fresh random inputs (CudaOpsTest),
#   2. both fixtures' goldens on the GPU within the bf16 tolerances (CudaGoldenTest), and the fatbin hash test,
#   3. the benchmark on synthetic:vqwen3-4b with the baseline's shapes, then the transformers baseline
#      (bench/hf_baseline.py), and the table of both with the physical limits and ratios.
# Usage: scripts/gpu/device-run.sh [all|tests|bench]   Logs and results go to $OUT (or ./gpu-out).
# BASELINE=0 skips the transformers baseline; BENCH_ARGS are passed to GpuBenchmark.
set -uo pipefail
what=${1:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out=${OUT:-$root/gpu-out}
mkdir -p "$out"
rt=/tmp/vqwen-gpu
rm -rf "$rt" && mkdir -p "$rt"
tar -C "$rt" -xJf .bundle/gpu-bundle.tar.xz || { echo "no .bundle/gpu-bundle.tar.xz: run scripts/gpu/bundle.sh and carry .bundle"; exit 1; }
export DJL_OFFLINE=true OPT_OUT_TRACKING=true RUST_FLAVOR=cpu DJL_CACHE_DIR=$rt/djl
java=$rt/jdk/bin/java
cp="$root/cuda/src/main/resources:$rt/lib/*"
flags=(--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx24g)
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv,noheader || true
echo "java: $($java -version 2>&1 | head -1)"

status=0
if [ "$what" = all ] || [ "$what" = tests ]; then
  # One JVM per class: a kernel fault poisons its CUDA context, and should not hide the other class's results.
  for cls in CudaOpsTest CudaGoldenTest KernelImageTest; do
    echo "== $cls"
    "$java" "${flags[@]}" -Dvqwen.cuda.syncEachLaunch=true -cp "$cp" io.vqwen.cuda.GpuTestMain "$cls" 2>&1 | tee "$out/$cls.log"
    s=${PIPESTATUS[0]}
    echo "$cls exit status $s"
    [ "$s" = 0 ] || status=$s
  done
fi
if [ "$what" = all ] || [ "$what" = bench ]; then
  if [ "${BASELINE:-1}" = 1 ]; then
    echo "== 3a. transformers baseline (bench/hf_baseline.py)"
    PYTHONUNBUFFERED=1 timeout 300 python3 bench/hf_baseline.py 2>&1 | grep -v Warning | tee "$out/hf_baseline.txt"
  fi
  echo "== 3b. vqwen GPU benchmark"
  "$java" "${flags[@]}" -cp "$cp" io.vqwen.cuda.bench.GpuBenchmark --baseline "$out/hf_baseline.txt" --json "$out/bench.json" \
    ${BENCH_ARGS:-} 2>&1 | tee "$out/bench.log"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
exit "$status"
