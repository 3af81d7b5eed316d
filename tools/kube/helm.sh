#!/usr/bin/env bash
# helm.sh: builds helm (helm.sh/helm/v3, pinned) from the Go module proxy, once, into
#   ${IRONLB_KUBE_CACHE:-$HOME/.cache/ironlb-kube}/helm-<version>/helm
# and prints that path on stdout (everything else goes to stderr). Debian 12 and PyPI have
# no helm; the tests use it to render charts/ironlb (`helm lint`, `helm template`) and have
# the real API server judge the result. A second run returns at once.
# Overrides: IRONLB_HELM_VERSION, IRONLB_KUBE_CACHE, IRONLB_KUBE_JOBS (go build -p, default 2).
set -euo pipefail

VERSION=${IRONLB_HELM_VERSION:-v3.22.0}
CACHE=${IRONLB_KUBE_CACHE:-$HOME/.cache/ironlb-kube}
JOBS=${IRONLB_KUBE_JOBS:-2}
OUT="$CACHE/helm-$VERSION"
log() { echo "helm.sh: $*" >&2; }

if [ -x "$OUT/helm" ]; then echo "$OUT/helm"; exit 0; fi
command -v go >/dev/null || { log "go not found on PATH"; exit 1; }
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
if [ -x "$OUT/helm" ]; then echo "$OUT/helm"; exit 0; fi

start=$SECONDS
# The same private Go caches as build.sh; the build cache is dropped afterwards.
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build-helm" GOPATH="$CACHE/go/path"
export GOFLAGS="-trimpath -buildvcs=false" CGO_ENABLED=0 GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
TMP="$OUT/tmp"; rm -rf "$TMP"; mkdir -p "$TMP"
log "go install helm.sh/helm/v3/cmd/helm@$VERSION (cold: a few minutes on 2 cores)"
(cd "$TMP" && GOBIN="$TMP" go install -p "$JOBS" \
   -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$VERSION" \
   "helm.sh/helm/v3/cmd/helm@$VERSION" >&2)
mv "$TMP/helm" "$OUT/helm"; rm -rf "$TMP" "$GOCACHE"
log "done in $((SECONDS - start)) s: $OUT/helm"
echo "$OUT/helm"
