#!/usr/bin/env bash
# The four mesh services on the GPU machine, as separate processes over loopback gRPC, from the bundle that
# scripts/gpu/services-bundle.sh made (.gpu-services/p1..pN), with every service's spans sent to our own OTLP receiver
# (scripts/gpu/otlp_receiver.py, 100% sampling) and a "where the time goes" table per phase. Phases (--phases):
#   engine  the in-process engine on the same workloads (io.vqwen.cuda.bench.GpuBenchmark from the bundle's jars):
#           TTFT b1, raw batch-1/64 steps, 64 streams x 128 tokens through the scheduler and its decode phase;
#   golden  the fixture (testdata/tiny-llava) through the gateway, checked against golden.safetensors;
#   single, load, intake  on ONE mesh of LOAD_MODEL (synthetic:vqwen3-4b), started once (scripts/gpu/mesh_phases.py):
#           single: SINGLE_N (20) sequential requests of 1 image + 16 tokens after 5 warm-ups;
#           load:   LOAD_ROUNDS (2) rounds of LOAD_N (64) streams x LOAD_TOKENS (128), EOS ignored (the last round counts);
#           intake: INTAKE_N (512) POST /v1/images, INTAKE_IN_FLIGHT (128) at a time, until each image's embeddings exist.
# vision-service and projector-service run on the first GPU of --devices, decoder-service on the last; the gateway on
# the CPU. The device calls (which part to carry in which call): scripts/gpu/README.md.
# Usage:
#   scripts/gpu/mesh-run.sh --stage            a call that carries one or more parts: keeps them in target/gpu-run
#   scripts/gpu/mesh-run.sh [--devices 0|0,1] [--backend cuda|cpu] [--phases engine,golden,single,load,intake]
#                           [--prop KEY=VALUE | --prop SERVICE:KEY=VALUE]...    the last call (carries the last part)
# --prop: a -D property for every service, or for one (SERVICE: gateway, vision, projector, decoder), e.g.
#   --prop vqwen.gateway.embedding-dtype=bf16 --prop decoder:vqwen.decoder.max-num-seqs=64 (on the fixture mesh too).
# Locally, without a GPU: --backend cpu with LOAD_MODEL=synthetic:tiny and small counts (the engine phase needs CUDA).
# Env: LOAD_MODEL, LOAD_N, LOAD_TOKENS, LOAD_ROUNDS, LOAD_MAX_LEN (1024), LOAD_VISION_BATCH (32), SINGLE_N, INTAKE_N,
#   INTAKE_IN_FLIGHT, ENGINE_ARGS (more GpuBenchmark arguments), READY_S (240), TRACING (1; 0 = no receiver).
# To $OUT (or ./gpu-out), four files: mesh-run.log, results.json (every phase's figures, the engine's and the trace
# tables: scripts/gpu/record_results.py reads it), spans.jsonl.gz (every span), service-logs.tar.gz.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
devices=0 backend=cuda phases=engine,golden,single,load,intake stage=no
declare -a PROPS_ALL=()
declare -A PROPS_ONE=()
while [ $# -gt 0 ]; do
  case "$1" in
    --prop)
      [[ $2 == *=* ]] || { echo "--prop takes KEY=VALUE or SERVICE:KEY=VALUE, got '$2'" >&2; exit 2; }
      if [[ $2 =~ ^(gateway|vision|projector|decoder):(.+)$ ]]; then PROPS_ONE[${BASH_REMATCH[1]}]+=" -D${BASH_REMATCH[2]}"
      elif [[ ${2%%=*} == *:* ]]; then echo "--prop $2: the service before ':' must be gateway, vision, projector or decoder" >&2; exit 2
      else PROPS_ALL+=("-D$2"); fi
      shift 2 ;;
    --devices) devices=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --phases) phases=$2; shift 2 ;;
    --stage) stage=yes; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
for p in ${phases//,/ }; do
  case "$p" in engine|golden|single|load|intake) ;; *) echo "unknown phase $p" >&2; exit 2 ;; esac
done
# Under target/, which the tracked .gitignore ignores: the machine keeps ignored paths between calls while it is warm
# (.git/info/exclude does not travel, so a folder ignored only there is wiped).
run=$root/target/gpu-run
parts=$run/parts
# shellcheck source=scripts/gpu/bundle-parts.sh
. scripts/gpu/bundle-parts.sh
stage_parts || exit 1
if [ "$stage" = yes ]; then
  ls -la "$parts"; echo "staged; still to carry: ${missing:-none} (make the next call at once: the machine stays warm 30 s)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  exit
fi
join_parts || exit 1
out=${OUT:-$root/gpu-out}
mkdir -p "$out"
exec > >(tee -a "$out/mesh-run.log") 2>&1
vision_dev=${devices%%,*} decoder_dev=${devices##*,}
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 ))s] $*"; }
unpack_bundle || exit 1
java=$rt/jdk/bin/java
say "java: $($java -version 2>&1 | head -1); devices: vision+projector $vision_dev, decoder $decoder_dev; backend $backend; bundle of $(cat "$parts/commit" 2>/dev/null || echo '?')"
say "phases: $phases; properties: ${PROPS_ALL[*]:-none}$(for k in "${!PROPS_ONE[@]}"; do printf '; %s:%s' "$k" "${PROPS_ONE[$k]}"; done)"
nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.used --format=csv,noheader || true
export DJL_OFFLINE=true OPT_OUT_TRACKING=true RUST_FLAVOR=cpu
fixture=$root/testdata/tiny-llava
logs=$run/logs res=$run/res
rm -rf "$logs" "$res" && mkdir -p "$logs" "$res"
python3 - "$res/meta.json" "$(cat "$parts/commit" 2>/dev/null)" "$backend" "$devices" "$phases" "${PROPS_ALL[*]:-}" \
  "$(for k in "${!PROPS_ONE[@]}"; do printf '%s:%s;' "$k" "${PROPS_ONE[$k]}"; done)" <<'PY'
import json, sys, time
a = sys.argv[1:]
json.dump(dict(commit=a[1].split()[0] if a[1] else None, tree=a[1].split()[1] if len(a[1].split()) > 1 else None,
               date=time.strftime("%Y-%m-%d", time.gmtime()), backend=a[2], devices=a[3], phases=a[4],
               props_all=a[5], props_one=a[6]), open(a[0], "w"), indent=1)
PY

# shellcheck source=scripts/gpu/mesh-services.sh
. scripts/gpu/mesh-services.sh

# ---- tracing: our own OTLP/HTTP receiver; every service exports to it at 100% sampling (the services' sampler is
# parentbased_traceidratio, fixed at build time; its argument is not), in small, frequent batches
otlp_port=${OTLP_PORT:-14318}
if [ "${TRACING:-1}" = 1 ]; then
  python3 scripts/gpu/otlp_receiver.py serve "$otlp_port" "$run/spans.jsonl" > "$logs/otlp-receiver.log" 2>&1 &
  RECEIVER=$!
  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$otlp_port OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf \
    OTEL_TRACES_SAMPLER_ARG=1.0 QUARKUS_OTEL_TRACES_SAMPLER_ARG=1.0 \
    QUARKUS_OTEL_BSP_SCHEDULE_DELAY=500ms QUARKUS_OTEL_BSP_MAX_QUEUE_SIZE=262144 QUARKUS_OTEL_BSP_MAX_EXPORT_BATCH_SIZE=4096 \
    OTEL_BSP_SCHEDULE_DELAY=500 OTEL_BSP_MAX_QUEUE_SIZE=262144 OTEL_BSP_MAX_EXPORT_BATCH_SIZE=4096
fi
phase_t0=0
begin() { phase_t0=$(date +%s%N); say "== $1"; }
traces() { # the phase's trace table, after the exporters' last batches
  [ "${TRACING:-1}" = 1 ] || return 0
  (cd scripts/gpu && python3 otlp_receiver.py table "$run/spans.jsonl" "$phase_t0" "$(date +%s%N)" "$1" "$res/traces-$1.json" \
    "http://127.0.0.1:$otlp_port/stats")
}
finish() {
  stop
  [ -n "${RECEIVER:-}" ] && kill "$RECEIVER" 2>/dev/null
  cp "$res"/*.json "$logs/" 2>/dev/null
  tar -C "$logs" -czf "$out/service-logs.tar.gz" . 2>/dev/null
  [ -f "$run/spans.jsonl" ] && gzip -c "$run/spans.jsonl" > "$out/spans.jsonl.gz"
  [ "$(stat -c %s "$out/spans.jsonl.gz" 2>/dev/null || echo 0)" -lt 16000000 ] \
    || echo "spans.jsonl.gz is over 16 MB, more than a device call brings back: the trace tables are in results.json"
  python3 scripts/gpu/record_results.py collect "$res" "$out/results.json" || true
}
trap finish EXIT
has() { [[ ,$phases, == *,$1,* ]]; }

status=0
if has engine; then
  begin "engine: GpuBenchmark in-process on ${LOAD_MODEL:-synthetic:vqwen3-4b} (the same workloads, no mesh)"
  if [ "$backend" != cuda ]; then
    say "engine phase skipped: GpuBenchmark needs CUDA (--backend $backend)"
  else
    # The decoder-service app carries the engine and cuda jars; kernels.fatbin also comes from the source tree.
    mkdir -p "$run/tmp"
    # shellcheck disable=SC2086
    "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx24g \
      -Djava.io.tmpdir="$run/tmp" -cp "$root/cuda/src/main/resources:$rt/lib/boot/*:$rt/lib/main/*" \
      io.vqwen.cuda.bench.GpuBenchmark --model "${LOAD_MODEL:-synthetic:vqwen3-4b}" --device "$decoder_dev" \
      --only ttft,decode,streams,vision --batches 1,64 --streams "${LOAD_N:-64}" --new-tokens "${LOAD_TOKENS:-128}" \
      --json "$res/engine.json" ${ENGINE_ARGS:-} 2>&1 | grep -v -E 'WARNING: (A restricted|Use --enable|Restricted methods)'
    [ "${PIPESTATUS[0]}" = 0 ] || { say "engine phase failed"; status=1; }
  fi
fi
if has golden; then
  if mesh "$fixture" fixture; then
    begin "golden requests through the gateway"
    python3 scripts/gpu/mesh_check.py golden "http://127.0.0.1:${HTTP[gateway]}" "$fixture" "$res/golden.json" || status=1
    traces golden
  else
    status=1
  fi
  stop
  grep -h -i -E 'error|exception' "$logs"/fixture-*.log | head -20
fi
if has single || has load || has intake; then
  model=${LOAD_MODEL:-synthetic:vqwen3-4b} gw="http://127.0.0.1:${HTTP[gateway]}"
  # The gateway keeps every intake image's embeddings until it is polled ready: room for all in flight, and more.
  if mesh "$model" load -Dvqwen.decoder.max-model-len="${LOAD_MAX_LEN:-1024}" -Dvqwen.vision.max-batch="${LOAD_VISION_BATCH:-32}" \
      -Dvqwen.gateway.embedding-cache-entries="${INTAKE_CACHE:-640}"; then
    if has single; then
      begin "single: ${SINGLE_N:-20} sequential requests, 1 image + 16 tokens"
      python3 scripts/gpu/mesh_phases.py single "$gw" "${SINGLE_N:-20}" "$res/single.json" 10000 || status=1
      traces single
    fi
    if has load; then
      for round in $(seq 1 "${LOAD_ROUNDS:-2}"); do
        begin "load round $round: ${LOAD_N:-64} concurrent streams x ${LOAD_TOKENS:-128} tokens"
        python3 scripts/gpu/mesh_phases.py load "$gw" "${LOAD_N:-64}" "${LOAD_TOKENS:-128}" "$res/load-$round.json" $((round * 1000)) || status=1
        { echo "== after load round $round"; get "http://127.0.0.1:${HTTP[vision]}/q/metrics" 2>/dev/null | grep -E '^vqwen_encoder'; } \
          >> "$logs/load-vision-metrics.txt"
        traces "load-$round"
      done
      get "http://127.0.0.1:${HTTP[decoder]}/q/metrics" 2>/dev/null | grep -E '^vqwen_' | head -60 > "$logs/load-decoder-metrics.txt"
    fi
    if has intake; then
      begin "intake: ${INTAKE_N:-512} POST /v1/images, ${INTAKE_IN_FLIGHT:-128} in flight"
      python3 scripts/gpu/mesh_phases.py intake "$gw" "${INTAKE_N:-512}" "${INTAKE_IN_FLIGHT:-128}" "$res/intake.json" 0 || status=1
      traces intake
    fi
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader >> "$logs/gpu-memory.txt" 2>&1
  else
    status=1
  fi
  stop
  grep -h -i -E 'error|exception' "$logs"/load-*.log | head -20
fi
say "done, status $status"
exit "$status"
