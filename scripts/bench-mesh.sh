#!/usr/bin/env bash
# Benchmark of the mesh on the CPU: starts vision, projector, decoder and gateway as four processes on free loopback
# ports (bundled tiny model unless MODEL is set), runs io.vqwen.gateway.bench.MeshBench against the gateway, and
# writes docs/bench-cpu-mesh.md. Not a test: the numbers depend on the machine.
#   scripts/bench-mesh.sh [tokens per request, default 128] [rounds, default 3]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"
source scripts/java-env.sh
MODEL="${MODEL:-$HERE/testdata/tiny-llava}"
TOKENS="${1:-128}"
ROUNDS="${2:-3}"
OUT="${OUT:-$HERE/docs/bench-cpu-mesh.md}"

jars=(vision-service projector-service decoder-service gateway)
for m in "${jars[@]}"; do
  if [[ ! -f "$m/target/quarkus-app/quarkus-run.jar" ]]; then
    echo "== building the services" >&2
    ./mvnw -q -B install -DskipTests
    break
  fi
done
echo "== compiling the benchmark" >&2
./mvnw -q -B -o -pl gateway test-compile dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile=target/bench.classpath >&2

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
declare -A HTTP GRPC
for s in vision projector decoder gateway; do HTTP[$s]=$(free_port); GRPC[$s]=$(free_port); done
LOGS="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'cleanup; rm -rf "$LOGS"/*-service "$LOGS"/gateway' EXIT INT TERM

# Run copies of the built apps, so that a rebuild in the working tree cannot pull jars from under a running service.
for m in "${jars[@]}"; do cp -r "$m/target/quarkus-app" "$LOGS/$m"; done
start() { # name module extra-args...
  local name="$1" module="$2"; shift 2
  "$JAVA_HOME/bin/java" $VQWEN_JVM_FLAGS -Xmx2g -Dvqwen.model="$MODEL" \
    -Dquarkus.http.port="${HTTP[$name]}" -Dquarkus.grpc.server.port="${GRPC[$name]}" "$@" \
    -jar "$LOGS/$module/quarkus-run.jar" >"$LOGS/$name.log" 2>&1 &
  PIDS+=($!)
}
start vision vision-service
start projector projector-service -Dquarkus.grpc.clients.vision.port="${GRPC[vision]}"
start decoder decoder-service -Dquarkus.grpc.clients.projector.port="${GRPC[projector]}"
start gateway gateway -Dquarkus.grpc.clients.vision.port="${GRPC[vision]}" \
  -Dquarkus.grpc.clients.projector.port="${GRPC[projector]}" -Dquarkus.grpc.clients.decoder.port="${GRPC[decoder]}"

echo "== waiting for the gateway's readiness (logs in $LOGS)" >&2
for _ in $(seq 1 300); do
  if curl -sf "http://127.0.0.1:${HTTP[gateway]}/q/health/ready" >/dev/null; then ready=1; break; fi
  for p in "${PIDS[@]}"; do
    if ! kill -0 "$p" 2>/dev/null; then echo "a service exited; logs:" >&2; tail -n 20 "$LOGS"/*.log >&2; exit 1; fi
  done
  sleep 1
done
if [[ -z "${ready:-}" ]]; then
  echo "the mesh did not become ready; gateway says:" >&2
  curl -s "http://127.0.0.1:${HTTP[gateway]}/q/health/ready" >&2 || true
  exit 1
fi

CP="gateway/target/test-classes:gateway/target/classes:$(cat gateway/target/bench.classpath)"
"$JAVA_HOME/bin/java" $VQWEN_JVM_FLAGS -Xmx2g -cp "$CP" io.vqwen.gateway.bench.MeshBench \
  "http://127.0.0.1:${HTTP[gateway]}" "$MODEL" "$OUT" "$TOKENS" "$ROUNDS" "${PIDS[2]}" "${PIDS[3]}"
echo "== wrote $OUT" >&2
