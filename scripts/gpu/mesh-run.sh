#!/usr/bin/env bash
# The four mesh services on the GPU machine, as separate processes over loopback gRPC, from the bundle that
# scripts/gpu/services-bundle.sh made (carried as .gpu-services/p1 [+ p2]):
#   1. the bundled fixture (testdata/tiny-llava) on vqwen.backend=cuda: image.png, image2.png and the text prompt
#      through the gateway, checked against golden.safetensors with the fixture README's bf16 tolerances;
#   2. LOAD_N (64) concurrent image requests, each its own image, LOAD_TOKENS (128) new tokens with EOS ignored, on
#      LOAD_MODEL (synthetic:vqwen3-4b): aggregate tokens/s, images/s, p50/p99 TTFT.
# vision-service and projector-service run on the first GPU of --devices, decoder-service on the last (one GPU:
# all three share it, each in its own process and CUDA context); the gateway runs on the CPU.
# Usage:
#   scripts/gpu/mesh-run.sh --stage            call 1 of 2 (carry .gpu-services/p1): keeps part 1 in target/gpu-run
#   scripts/gpu/mesh-run.sh [--devices 0|0,1] [--backend cuda|cpu] [--phases golden,load]
#                                              call 2, at once (carry .gpu-services/p2 and .gpu-services/whole.sha256)
# Two GPUs (issue 9): --devices 0,1. Locally, without a GPU: --backend cpu (LOAD_MODEL=synthetic:tiny for the load).
# Env: LOAD_MODEL, LOAD_N (64), LOAD_TOKENS (128), LOAD_ROUNDS (1), LOAD_MAX_LEN (1024), LOAD_VISION_BATCH (32), READY_S.
# Logs and results go to $OUT (or ./gpu-out): mesh-run.log, golden.json, load.json, load-vision-metrics.txt,
# gpu-memory.txt, service-logs.tar.gz.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
devices=0 backend=cuda phases=golden,load stage=no
while [ $# -gt 0 ]; do
  case "$1" in
    --devices) devices=$2; shift 2 ;;
    --backend) backend=$2; shift 2 ;;
    --phases) phases=$2; shift 2 ;;
    --stage) stage=yes; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
# Under target/, which the tracked .gitignore ignores: the machine keeps ignored paths between calls while it is warm
# (.git/info/exclude does not travel, so a folder ignored only there is wiped).
run=$root/target/gpu-run
if [ "$stage" = yes ]; then
  mkdir -p "$run" && cp .gpu-services/p1/services.tar.xz.part "$run/part1" && ls -la "$run"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
  exit
fi
out=${OUT:-$root/gpu-out}
mkdir -p "$out"
exec > >(tee -a "$out/mesh-run.log") 2>&1
vision_dev=${devices%%,*} decoder_dev=${devices##*,}
t0=$(date +%s)
say() { echo "[$(( $(date +%s) - t0 ))s] $*"; }

# ---- the runtime: part 1 from the last call (or carried now) + part 2, checked, unpacked once
parts=()
for p in "$run/part1" .gpu-services/p1/services.tar.xz.part; do [ -f "$p" ] && { parts+=("$p"); break; }; done
[ -f .gpu-services/p2/services.tar.xz.part ] && parts+=(.gpu-services/p2/services.tar.xz.part)
have=$(cat "${parts[@]}" 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ "$have" != "$(cat .gpu-services/whole.sha256 2>/dev/null)" ]; then
  echo "bundle incomplete or corrupt (parts: ${parts[*]:-none}); run scripts/gpu/services-bundle.sh and carry .gpu-services/p1 then p2"
  exit 1
fi
rt=$run/rt
if [ "$(cat "$rt/.sha256" 2>/dev/null)" != "$have" ]; then
  rm -rf "$rt" && mkdir -p "$rt" && cat "${parts[@]}" | xz -d -T0 | tar -C "$rt" -xf - || exit 1
  for a in "$rt"/apps/*; do ln -s ../../lib "$a/lib"; done
  echo "$have" > "$rt/.sha256"
fi
java=$rt/jdk/bin/java
say "java: $($java -version 2>&1 | head -1); devices: vision+projector $vision_dev, decoder $decoder_dev; backend $backend"
nvidia-smi --query-gpu=index,name,driver_version,memory.total,memory.used --format=csv,noheader || true
export DJL_OFFLINE=true OPT_OUT_TRACKING=true RUST_FLAVOR=cpu
fixture=$root/testdata/tiny-llava
logs=$run/logs
rm -rf "$logs" && mkdir -p "$logs"

declare -A HTTP=([gateway]=18080 [vision]=18081 [projector]=18082 [decoder]=18083)
declare -A GRPC=([gateway]=19080 [vision]=19081 [projector]=19082 [decoder]=19083)
declare -A APP=([gateway]=gateway [vision]=vision-service [projector]=projector-service [decoder]=decoder-service)
declare -A PID
start() { # service device model tag extra -D...
  local s=$1 dev=$2 model=$3 tag=$4; shift 4
  local peers=()
  for p in vision projector decoder; do
    [ "$p" = "$s" ] || peers+=("-Dquarkus.grpc.clients.$p.host=127.0.0.1" "-Dquarkus.grpc.clients.$p.port=${GRPC[$p]}")
  done
  # Each its own temp and DJL cache directory: JCuda and DJL unpack their native libraries there, and three services
  # starting at once must not load one another's half-written copy.
  mkdir -p "$run/tmp/$s"
  DJL_CACHE_DIR=$run/djl-$s "$java" -Djava.io.tmpdir="$run/tmp/$s" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx8g \
    -Djava.awt.headless=true -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="${HTTP[$s]}" \
    -Dquarkus.grpc.server.host=127.0.0.1 -Dquarkus.grpc.server.port="${GRPC[$s]}" "${peers[@]}" \
    -Dvqwen.model="$model" -Dvqwen.backend="$backend" -Dvqwen.device="$dev" -Dvqwen.synthetic.files-from="$fixture" \
    -Dvqwen.shutdown.drain-seconds=2 "$@" -Djava.util.logging.manager=org.jboss.logmanager.LogManager \
    -jar "$rt/apps/${APP[$s]}/quarkus-run.jar" > "$logs/$tag-$s.log" 2>&1 &
  PID[$s]=$!
}
get() { # prints the body (a 503's too); fails unless 200
  python3 -c 'import sys, urllib.request, urllib.error
try: sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())
except urllib.error.HTTPError as e: sys.stdout.write(e.read().decode()); sys.exit(1)' "$1"
}
ready() { # waits for every service's /q/health/ready; fails early when one exits
  local deadline=$(( $(date +%s) + $1 )) s
  for s in vision projector decoder gateway; do
    until get "http://127.0.0.1:${HTTP[$s]}/q/health/ready" >/dev/null 2>&1; do
      if ! kill -0 "${PID[$s]}" 2>/dev/null; then say "$s exited before it was ready:"; tail -n 40 "$logs"/*-"$s".log; return 1; fi
      if [ "$(date +%s)" -ge "$deadline" ]; then
        say "$s not ready in time:"; get "http://127.0.0.1:${HTTP[$s]}/q/health/ready"; tail -n 20 "$logs"/*-"$s".log
        return 1
      fi
      sleep 0.5
    done
    say "$s ready"
  done
}
stop() {
  local s
  for s in gateway decoder projector vision; do kill "${PID[$s]}" 2>/dev/null; done
  for s in gateway decoder projector vision; do
    for _ in $(seq 1 40); do kill -0 "${PID[$s]}" 2>/dev/null || break; sleep 0.5; done
    kill -9 "${PID[$s]}" 2>/dev/null
  done
  wait "${PID[@]}" 2>/dev/null
}
mesh() { # model tag extra -D... (for every service)
  local model=$1 tag=$2; shift 2
  say "starting the mesh on $model ($tag)"
  start vision "$vision_dev" "$model" "$tag" "$@"
  start projector "$vision_dev" "$model" "$tag" "$@"
  start decoder "$decoder_dev" "$model" "$tag" "$@"
  start gateway 0 "$model" "$tag" "$@"
  ready "${READY_S:-240}" || return 1
  { echo "== $tag: GPU processes"; nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader
    for s in vision projector decoder gateway; do echo "$s pid ${PID[$s]}"; done; } >> "$out/gpu-memory.txt" 2>&1
}
trap 'stop; tar -C "$logs" -czf "$out/service-logs.tar.gz" . 2>/dev/null' EXIT

status=0
if [[ ,$phases, == *,golden,* ]]; then
  if mesh "$fixture" fixture; then
    say "golden requests through the gateway"
    python3 scripts/gpu/mesh_check.py golden "http://127.0.0.1:${HTTP[gateway]}" "$fixture" "$out/golden.json" || status=1
  else
    status=1
  fi
  stop
  grep -h -i -E 'error|exception' "$logs"/fixture-*.log | head -20
fi
if [[ ,$phases, == *,load,* ]]; then
  model=${LOAD_MODEL:-synthetic:vqwen3-4b}
  if mesh "$model" load -Dvqwen.decoder.max-model-len="${LOAD_MAX_LEN:-1024}" -Dvqwen.vision.max-batch="${LOAD_VISION_BATCH:-32}"; then
    say "load: ${LOAD_N:-64} concurrent image requests x ${LOAD_TOKENS:-128} tokens"
    # LOAD_ROUNDS (1) rounds on the same mesh, each with new images: the first also pays first-use costs (JIT, graphs).
    for round in $(seq 1 "${LOAD_ROUNDS:-1}"); do
      python3 scripts/gpu/mesh_check.py load "http://127.0.0.1:${HTTP[gateway]}" "${LOAD_N:-64}" "${LOAD_TOKENS:-128}" \
        "$out/load$([ "$round" = 1 ] || echo "-$round").json" $((round * 1000)) || status=1
      # vision's stage timers (preprocess, vision_tower), cumulative over the rounds so far: where an image's time goes
      { echo "== after round $round"; get "http://127.0.0.1:${HTTP[vision]}/q/metrics" 2>/dev/null | grep -E '^vqwen_encoder'; } \
        >> "$out/load-vision-metrics.txt"
    done
    get "http://127.0.0.1:${HTTP[decoder]}/q/metrics" 2>/dev/null | grep -E '^vqwen_' | head -40 > "$logs/load-decoder-metrics.txt"
    nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader >> "$out/gpu-memory.txt" 2>&1
  else
    status=1
  fi
  stop
  grep -h -i -E 'error|exception' "$logs"/load-*.log | head -20
fi
say "done, status $status"
exit "$status"
