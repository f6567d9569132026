# Sourced by every launcher: picks a Java 25 and sets the flags the engine needs.
if [[ -z "${JAVA_HOME:-}" || ! -x "${JAVA_HOME}/bin/java" ]] || ! "${JAVA_HOME}/bin/java" -version 2>&1 | grep -q 'version "2[5-9]'; then
  for candidate in /usr/lib/jvm/temurin-25-jdk-amd64 /usr/lib/jvm/temurin-25-jdk /usr/lib/jvm/java-25-openjdk-amd64; do
    if [[ -x "$candidate/bin/java" ]]; then JAVA_HOME="$candidate"; break; fi
  done
fi
if [[ -z "${JAVA_HOME:-}" || ! -x "${JAVA_HOME}/bin/java" ]]; then
  echo "vqwen: needs Java 25 (Temurin). Set JAVA_HOME to a Java 25 JDK." >&2
  exit 1
fi
export JAVA_HOME
export VQWEN_JVM_FLAGS="--add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC"
# DJL: no telemetry, no CUDA tokenizer download, no truncation surprises.
export DJL_OFFLINE=true OPT_OUT_TRACKING=true RUST_FLAVOR=cpu
