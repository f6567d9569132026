#!/usr/bin/env bash
# Builds .bundle/gpu-bundle.tar.xz: what the GPU machine (no Java there) needs to run the CUDA tests and the
# benchmark. A jlink'd Java 25 runtime (the modules jdeps finds), the vqwen-engine and vqwen-cuda jars plus the
# cuda test classes, and their runtime jars, with native libraries trimmed to linux-x86_64 (JCuda: the driver
# library alone). Jars are repacked uncompressed so that xz compresses the whole bundle at once.
# The run carries .bundle (git-ignored); the tracked tree plus the bundle must stay under 64 MiB.
# Usage: scripts/gpu/bundle.sh    (JAVA_HOME = a Temurin 25 JDK)
set -euo pipefail
# --no-tokenizer leaves DJL out (4.5 MB): the 64-stream DecoderEngine benchmark is then skipped.
tokenizer=yes
[ "${1:-}" = "--no-tokenizer" ] && tokenizer=no
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
J=$JAVA_HOME/bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lib" .bundle

./mvnw -q -o -pl cuda -am package -DskipTests
./mvnw -q -o -pl cuda dependency:copy-dependencies -DincludeScope=test -DoutputDirectory="$work/deps"
cp engine/target/vqwen-engine-*.jar cuda/target/vqwen-cuda-*.jar "$work/deps/" 2>/dev/null || true
"$J/jar" --create --file "$work/deps/vqwen-cuda-tests.jar" -C cuda/target/test-classes .

# Not needed on the GPU machine: image decoders (tests feed golden pixel values), and archive/codec helpers of
# DJL's model zoo (the tokenizer is read from testdata).
keep() {
  case "$1" in
    common-*|imageio-*|commons-*|error_prone_*|jspecify-*|junit-jupiter-[0-9]*|junit-jupiter-params-*) return 1 ;;
    api-*|tokenizers-*|gson-*|jna-*) [ "$tokenizer" = yes ] ;;
    *) return 0 ;;
  esac
}
for jar in "$work"/deps/*.jar; do
  name=$(basename "$jar")
  keep "$name" || continue
  x="$work/x/$name"
  mkdir -p "$x"
  (cd "$x" && "$J/jar" xf "$jar")
  case "$name" in
    jcuda-natives-*) find "$x/lib" -type f ! -name 'libJCudaDriver-*-linux-x86_64.so' -delete ;;
    tokenizers-*) find "$x/native/lib" -mindepth 1 -maxdepth 1 -type d ! -name linux-x86_64 -exec rm -rf {} + ;;
    jna-*) find "$x/com/sun/jna" -mindepth 1 -maxdepth 1 -type d ! -name linux-x86-64 ! -name ptr ! -name internal ! -name win32 -exec rm -rf {} + ;;
    # the fatbin travels in the tree (cuda/src/main/resources), which device-run.sh puts first on the class path
    vqwen-cuda-[0-9]*) rm -f "$x"/io/vqwen/cuda/kernels.fatbin ;;
  esac
  rm -f "$x"/META-INF/*.SF "$x"/META-INF/*.RSA "$x"/META-INF/*.DSA
  "$J/jar" --create --no-compress --file "$work/lib/$name" -C "$x" .
done

# jdeps also lists modules that only optional paths reach (java.desktop for Jackson's java.beans support, java.sql
# for its date types, DJL's model zoo); what the GPU runs load is these.
modules=java.base,jdk.incubator.vector,java.logging,jdk.unsupported
echo "jlink modules: $modules"
"$J/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages --compress=zip-0 --output "$work/jdk" 2>&1 | grep -v 'incubator' || true
# Vector API math (jsvml) and SIMD sort have Java fallbacks; nothing here needs them, and bytes are tight.
rm -f "$work"/jdk/bin/keytool "$work"/jdk/lib/security/cacerts "$work"/jdk/lib/libjsvml.so "$work"/jdk/lib/libsimdsort.so

tar -C "$work" -cf - jdk lib | xz -9 -T2 > .bundle/gpu-bundle.tar.xz
# The device tool counts about a tar header (512 B) and block padding per file on top of the bytes.
files=$(git ls-files | wc -l)
tracked=$(( $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) + files * 768 ))
untracked=$(git ls-files --others --exclude-standard -z | xargs -0 -r du -cb | tail -1 | cut -f1)
bundle=$(stat -c %s .bundle/gpu-bundle.tar.xz)
total=$((tracked + ${untracked:-0} + bundle))
printf 'bundle %.1f MB + tracked %.1f MB + untracked %.1f MB = %.1f MB of the 64 MiB (%.1f MB) a run may carry\n' \
  "$(echo "$bundle/1000000" | bc -l)" "$(echo "$tracked/1000000" | bc -l)" "$(echo "${untracked:-0}/1000000" | bc -l)" \
  "$(echo "$total/1000000" | bc -l)" "$(echo "67108864/1000000" | bc -l)"
[ "$total" -lt 67108864 ] || { echo "over the 64 MiB a run carries" >&2; exit 1; }
