#!/usr/bin/env bash
# build.sh: builds MetalLB's controller and speaker from its Go module, once, into
#   ${IRONLB_METALLB_CACHE:-$HOME/.cache/ironlb-metallb}/<version>/bin
# and prints that bin dir on stdout (everything else goes to stderr). The same dir's
# ../crds holds MetalLB's own CRDs (config/crd/bases of the module, no conversion webhook).
# A second run with the binaries present returns at once (~0 s).
#
# How: `go install go.universe.tf/metallb/{controller,speaker}@$VERSION` (the module has no
# replace directives), with private Go caches under CACHE/go; the module source (for the CRDs)
# is fetched with `go mod download`. Nothing of MetalLB's is copied into this repository.
#
# Overrides:
#   IRONLB_METALLB_VERSION  MetalLB version (default v0.15.2)
#   IRONLB_METALLB_CACHE    cache root (default ~/.cache/ironlb-metallb)
#   IRONLB_METALLB_KEEP_GOCACHE=1  keep the Go build cache (deleted after a build otherwise)
#   IRONLB_METALLB_JOBS     go build -p (default 2)
set -euo pipefail

VERSION=${IRONLB_METALLB_VERSION:-v0.15.2}
CACHE=${IRONLB_METALLB_CACHE:-$HOME/.cache/ironlb-metallb}
JOBS=${IRONLB_METALLB_JOBS:-2}
OUT="$CACHE/$VERSION/bin"
BINS=(controller speaker)
log() { echo "build.sh: $*" >&2; }
complete() {
  local b; [ -f "$1/.complete" ] || return 1
  for b in "${BINS[@]}"; do [ -x "$1/$b" ] || return 1; done
  [ -d "$1/../crds" ]
}

if complete "$OUT"; then echo "$OUT"; exit 0; fi

case "$VERSION" in v0.[0-9]*.[0-9]*) ;; *) log "IRONLB_METALLB_VERSION must look like v0.15.2"; exit 2 ;; esac
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || { log "go not found on PATH or in /usr/local/go/bin"; exit 1; }
mkdir -p "$CACHE/$VERSION"
exec 9>"$CACHE/$VERSION/.lock"
flock 9
if complete "$OUT"; then echo "$OUT"; exit 0; fi

start=$SECONDS
TMP="$CACHE/$VERSION/bin.tmp"
rm -rf "$TMP" "$CACHE/$VERSION/crds" "$CACHE/$VERSION/crds.tmp"; mkdir -p "$TMP"
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOPATH="$CACHE/go/path"
export GOFLAGS="-trimpath -buildvcs=false" CGO_ENABLED=0
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

log "go.universe.tf/metallb@$VERSION: fetching the module"
dir=$(cd "$TMP" && GOFLAGS='' go mod download -json "go.universe.tf/metallb@$VERSION" \
        | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
[ -d "$dir/config/crd/bases" ] || { log "no config/crd/bases in go.universe.tf/metallb@$VERSION"; exit 1; }
log "using $(go version)"
log "go install -p $JOBS go.universe.tf/metallb/controller go.universe.tf/metallb/speaker (cold: a few minutes on 2 cores)"
(cd "$TMP" && GOBIN="$TMP" go install -p "$JOBS" -ldflags "-s -w" \
   "go.universe.tf/metallb/controller@$VERSION" "go.universe.tf/metallb/speaker@$VERSION" >&2)
mkdir -p "$CACHE/$VERSION/crds.tmp"
cp "$dir"/config/crd/bases/*.yaml "$CACHE/$VERSION/crds.tmp/"
chmod -R u+w "$CACHE/$VERSION/crds.tmp"
{
  echo "go.universe.tf/metallb $VERSION from the Go module proxy; $(go version)"
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - start)) s"
  for b in "${BINS[@]}"; do echo "$b $(( $(stat -c %s "$TMP/$b") / 1048576 )) MB"; done
} > "$TMP/.complete"
rm -rf "$OUT"; mv "$TMP" "$OUT"; mv "$CACHE/$VERSION/crds.tmp" "$CACHE/$VERSION/crds"
[ "${IRONLB_METALLB_KEEP_GOCACHE:-}" = 1 ] || rm -rf "$GOCACHE"
log "done in $((SECONDS - start)) s: $OUT"
echo "$OUT"
