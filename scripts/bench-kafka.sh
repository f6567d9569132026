#!/usr/bin/env bash
# Benchmark of async captioning over Kafka on the CPU (not a test: the numbers depend on the machine). Starts a
# KafkaBroker, the mesh (MeshHarness, bundled tiny model) and the caption worker, then runs
# io.vqwen.worker.KafkaBench: jobs/s through Kafka vs direct gRPC chat calls, the per-job latency Kafka adds, and
# interactive time to first token while bulk jobs run. Prints a Markdown report (docs/bench-kafka.md holds one).
#   scripts/bench-kafka.sh [throughput jobs, default 200] [sequential jobs, default 30] [max-in-flight, default 8] [tokens, default 24]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"
source scripts/java-env.sh

for m in vision-service projector-service decoder-service gateway caption-worker; do
  if [[ ! -f "$m/target/quarkus-app/quarkus-run.jar" ]]; then
    echo "== building the services" >&2
    ./mvnw -q -B install -DskipTests
    break
  fi
done
echo "== compiling the benchmark" >&2
./mvnw -q -B -o -pl caption-worker test-compile dependency:build-classpath -Dmdep.includeScope=test \
  -Dmdep.outputFile=target/bench.classpath >&2

cd caption-worker
exec "$JAVA_HOME/bin/java" $VQWEN_JVM_FLAGS -Xmx1g -Djava.util.logging.manager=org.jboss.logmanager.LogManager \
  -Dvqwen.repo.root="$HERE" -Dvqwen.worker.app="$HERE/caption-worker/target/quarkus-app/quarkus-run.jar" \
  -cp "target/test-classes:target/classes:$(cat target/bench.classpath)" io.vqwen.worker.KafkaBench "$@"
