#!/usr/bin/env bash
# Builds .gpu-services/: what the GPU machine (no Java there) needs to run the four mesh services
# (vision, projector, decoder, gateway) from their Quarkus fast-jars. One jlink'd Java 25 runtime with the modules the
# services load, ONE lib/ holding the union of the apps' jars (same name = same bytes in one build, checked), and per
# app only what differs (app/, quarkus/, quarkus-run.jar; lib/ becomes a link to the shared one on unpacking).
# Trimmed: DJL tokenizers and JNA natives to linux-x86_64 (stripped), JCuda natives to the driver library,
# jar signatures. Jars are repacked uncompressed so that xz compresses the whole bundle at once.
# The archive is split into .gpu-services/p1 .. pN, each under PART_MB (default 17): a device call carries the
# tracked tree + the parts it names (64 MiB in all), so each call carries one part. .gpu-services/ is git-ignored:
# it travels only when a call names a part in carry. Each part folder also holds parts.sha256 (every part's hash)
# and whole.sha256, so a call that carries only the last part can check what the earlier calls staged.
# The device calls: scripts/gpu/README.md.
# Usage: scripts/gpu/services-bundle.sh [REPO_WITH_BUILT_APPS]
#   REPO_WITH_BUILT_APPS: a checkout whose */target/quarkus-app are built (default: this one, built here with -o).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
src=${1:-$root}
cd "$root"
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}
J=$JAVA_HOME/bin
apps=(vision-service projector-service decoder-service gateway)
part_mb=${PART_MB:-17}
work=$(mktemp -d)
[ -n "${KEEP_WORK:-}" ] || trap 'rm -rf "$work"' EXIT

if [ "$src" = "$root" ]; then
  ./mvnw -q -o -B -pl "$(IFS=,; echo "${apps[*]}")" -am package -DskipTests
fi
mkdir -p "$work/b/lib" "$work/b/apps"
for a in "${apps[@]}"; do
  q="$src/$a/target/quarkus-app"
  [ -f "$q/quarkus-run.jar" ] || { echo "$q/quarkus-run.jar is missing: build $a first" >&2; exit 1; }
  mkdir -p "$work/b/apps/$a"
  cp -r "$q/app" "$q/quarkus" "$q/quarkus-run.jar" "$work/b/apps/$a/"
  (cd "$q" && find lib -name '*.jar') | while read -r jar; do
    if [ -f "$work/orig/$jar" ]; then
      cmp -s "$q/$jar" "$work/orig/$jar" || { echo "$jar differs between apps: rebuild them together" >&2; exit 1; }
    else
      mkdir -p "$(dirname "$work/orig/$jar")" && cp "$q/$jar" "$work/orig/$jar"
    fi
  done
done

for jar in $(cd "$work/orig" && find lib -name '*.jar' | sort); do
  name=$(basename "$jar")
  x="$work/x/$name"
  mkdir -p "$x" "$(dirname "$work/b/$jar")"
  unzip -q -o "$work/orig/$jar" -d "$x"
  case "$name" in
    # the services use the driver API alone (cuBLAS 13 comes from the machine's CUDA through FFM)
    org.jcuda.jcuda-natives-*) find "$x/lib" -type f ! -name 'libJCudaDriver-*-linux-x86_64.so' -delete ;;
    ai.djl.huggingface.tokenizers-*)
      find "$x/native/lib" -mindepth 1 -maxdepth 1 -type d ! -name linux-x86_64 -exec rm -rf {} +
      find "$x/native/lib" -name '*.so' -exec strip --strip-unneeded {} + ;;
    net.java.dev.jna.jna-*) find "$x/com/sun/jna" -mindepth 1 -maxdepth 1 -type d ! -name linux-x86-64 ! -name ptr ! -name internal ! -name win32 -exec rm -rf {} + ;;
  esac
  rm -f "$x"/META-INF/*.SF "$x"/META-INF/*.RSA "$x"/META-INF/*.DSA
  (cd "$x" && zip -q -0 -r -X "$work/b/$jar" .)
  rm -rf "$x"
done

# What the services load: ImageIO (java.desktop) in vision-service, JNDI (java.naming) in Netty/Vert.x, JMX
# (java.management, jdk.management) in Micrometer, java.net.http in the engine's Hub client and the gateway,
# java.sql in protobuf-java-util and Micrometer, Unsafe (jdk.unsupported) in Netty and JCTools.
modules=java.base,jdk.incubator.vector,java.logging,java.desktop,java.naming,jdk.naming.dns,java.management,jdk.management,java.net.http,java.sql,java.xml,jdk.unsupported,jdk.zipfs
echo "jlink modules: $modules"
# Left out of those modules, to fit the 64 MiB a call carries: what a headless server never loads (Swing, the X11
# toolkit and its Java2D pipelines, sound, printing) and XSLT/XPath; ImageIO, java.awt.image and java.beans stay.
# jlink refuses an exported package left empty, so each such package keeps its first class.
trees='java.desktop/javax/swing/ java.desktop/sun/swing/ java.desktop/com/sun/java/swing/ java.desktop/sun/awt/X11/
  java.desktop/sun/java2d/opengl/ java.desktop/sun/java2d/xr/ java.desktop/sun/java2d/x11/ java.desktop/javax/sound/
  java.desktop/com/sun/media/sound/ java.desktop/javax/print/ java.desktop/sun/print/ java.desktop/java/awt/doc-files/
  java.xml/com/sun/org/apache/xalan/ java.xml/com/sun/org/apache/xpath/ java.xml/com/sun/org/apache/bcel/'
exclude=$("$J/jimage" list "$JAVA_HOME/lib/modules" | awk -v trees="$trees" '
  BEGIN { n = split(trees, t, /[ \n]+/) }
  /^Module: / { m = $2; next }
  NF == 1 {
    r = m "/" $1
    for (i = 1; i <= n; i++) if (t[i] != "" && index(r, t[i]) == 1) {
      d = r; sub(/\/[^\/]*$/, "", d); f = substr(r, length(d) + 2)
      if (!(d in keep)) keep[d] = f
      else if (f < keep[d]) keep[d] = f
    }
  }
  END {
    for (d in keep) {
      k = keep[d]; gsub(/[.$]/, "\\\\&", k); e = d; gsub(/[.$]/, "\\\\&", e)
      printf "%sregex:/%s/(?!%s$)[^/]+", (c++ ? "," : ""), e, k
    }
  }')
"$J/jlink" --add-modules "$modules" --exclude-resources="$exclude" --strip-debug --no-header-files --no-man-pages \
  --compress=zip-0 --output "$work/b/jdk" 2>&1 | grep -v 'incubator' || true
# Vector API math (jsvml) and SIMD sort have Java fallbacks; the fonts and the X11 toolkit are never loaded headless.
rm -f "$work"/b/jdk/bin/keytool "$work"/b/jdk/bin/jrunscript "$work"/b/jdk/lib/libjsvml.so "$work"/b/jdk/lib/libsimdsort.so \
  "$work"/b/jdk/lib/libawt_xawt.so "$work"/b/jdk/lib/libfontmanager.so "$work"/b/jdk/lib/libfreetype.so "$work"/b/jdk/lib/libjsound.so \
  "$work"/b/jdk/lib/libsplashscreen.so "$work"/b/jdk/lib/libjawt.so
strip --strip-unneeded "$work"/b/jdk/lib/server/libjvm.so

rm -rf .gpu-services && mkdir -p .gpu-services
tar -C "$work/b" -cf - jdk lib apps | xz -9 -T2 > "$work/services.tar.xz"
size=$(stat -c %s "$work/services.tar.xz")
n=$(( (size + part_mb * 1000000 - 1) / (part_mb * 1000000) ))
(cd "$work" && split -n "$n" -d -a 2 services.tar.xz services.tar.xz.part)
for i in $(seq 1 "$n"); do
  mkdir -p ".gpu-services/p$i" && mv "$work/services.tar.xz.part$(printf %02d $((i - 1)))" ".gpu-services/p$i/services.tar.xz.part"
done
(cd .gpu-services && sha256sum $(for i in $(seq 1 "$n"); do echo "p$i/services.tar.xz.part"; done) > parts.sha256 \
  && cat $(for i in $(seq 1 "$n"); do echo "p$i/services.tar.xz.part"; done) | sha256sum | cut -d' ' -f1 > whole.sha256 \
  && { git -C "$src" rev-parse HEAD; git -C "$src" status --porcelain --untracked-files=no | grep -q . && echo dirty || echo clean; } \
     | paste -sd' ' > commit \
  && for i in $(seq 1 "$n"); do cp parts.sha256 whole.sha256 commit "p$i/"; done)
echo "$((size / 1000)) kB in $n part(s) of at most $part_mb MB"
files=$(git ls-files | wc -l)
tracked=$(( $(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1) + files * 768 ))
untracked=$(git ls-files --others --exclude-standard -z | xargs -0 -r du -cb | tail -1 | cut -f1)
[ "$(git check-ignore -q .gpu-services/p1/services.tar.xz.part && echo ignored)" = ignored ] \
  || { echo ".gpu-services/ is not git-ignored: its parts would travel with every device call" >&2; exit 1; }
for p in .gpu-services/p[0-9]*; do
  b=$(du -cb "$p" | tail -1 | cut -f1)
  total=$((tracked + ${untracked:-0} + b))
  printf '%s: %.1f MB + tracked %.1f MB + untracked %.1f MB = %.1f MB of the 64 MiB (67.1 MB) a call carries\n' "$p" \
    "$(echo "$b/1000000" | bc -l)" "$(echo "$tracked/1000000" | bc -l)" "$(echo "${untracked:-0}/1000000" | bc -l)" "$(echo "$total/1000000" | bc -l)"
  [ "$total" -lt 67108864 ] || { echo "over the 64 MiB a call carries: lower PART_MB" >&2; exit 1; }
done
