#!/usr/bin/env bash
# build.sh: builds a REAL Kubernetes control plane from Go modules, once, into
#   ${IRONLB_KUBE_CACHE:-$HOME/.cache/ironlb-kube}/<k8s-version>/bin
# (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, and kwok
# unless IRONLB_KUBE_KWOK=0) and prints that bin dir on stdout (everything else goes to stderr).
# A second run with the binaries present returns at once (~0 s).
#
# How: a scratch Go module of ours (CACHE/<version>/src) requires
# k8s.io/kubernetes@$K8S_VERSION and replaces every k8s.io staging module by the
# matching v0.X.Y (the k8s.io/kubernetes module zip has no staging/ sources, and
# its own `replace ... => ./staging/...` lines are ignored outside its repo).
# etcd is built in the same module from go.etcd.io/etcd/server/v3/etcdmain at the
# version k8s itself requires (v3.6.4 for k8s v1.34.4). Everything comes from
# the Go module proxy through the `go` command; nothing else is downloaded.
# kwok (sigs.k8s.io/kwok, fake kubelets: Nodes Ready, Pods Running with IPs) is
# `go install`ed from its own module at $KWOK_VERSION.
#
# Overrides:
#   IRONLB_KUBE_VERSION   k8s version (default: the pinned one below; >= v1.33 for IronLB)
#   IRONLB_KUBE_CACHE     cache root (default ~/.cache/ironlb-kube)
#   The Go module cache (CACHE/go/mod, ~0.8 GB) is kept, so another version or a
#   rebuild downloads little; the Go build cache (CACHE/go/build, ~3.7 GB) is deleted
#   after a build unless IRONLB_KUBE_KEEP_GOCACHE=1 (then a relink takes ~15 s).
#   IRONLB_KUBE_CLEAN=1   delete both Go caches after a build
#   IRONLB_KUBE_JOBS      go build -p (default 2)
set -euo pipefail

# Pinned Kubernetes version (k8s-openapi 0.29 `v1_33` needs >= 1.33).
K8S_VERSION=${IRONLB_KUBE_VERSION:-v1.34.4}
KWOK_VERSION=${IRONLB_KWOK_VERSION:-v0.7.0}   # its client-go is v0.33
CACHE=${IRONLB_KUBE_CACHE:-$HOME/.cache/ironlb-kube}
JOBS=${IRONLB_KUBE_JOBS:-2}
BINS=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd)
[ "${IRONLB_KUBE_KWOK:-1}" = 0 ] || BINS+=(kwok)
OUT="$CACHE/$K8S_VERSION/bin"
log() { echo "build.sh: $*" >&2; }
complete() {
  local b; [ -f "$1/.complete" ] || return 1
  for b in "${BINS[@]}"; do [ -x "$1/$b" ] || return 1; done
}

# --- fast path: already built ---
if complete "$OUT"; then echo "$OUT"; exit 0; fi

case "$K8S_VERSION" in v1.[0-9]*.[0-9]*) ;; *) log "IRONLB_KUBE_VERSION must look like v1.34.4"; exit 2 ;; esac
command -v go >/dev/null || { log "go not found on PATH"; exit 1; }
mkdir -p "$CACHE/$K8S_VERSION"
# One build per version at a time (parallel CI jobs wait here, then take the fast path).
exec 9>"$CACHE/$K8S_VERSION/.lock"
flock 9
if complete "$OUT"; then echo "$OUT"; exit 0; fi

start=$SECONDS
SRC="$CACHE/$K8S_VERSION/src" TMP="$CACHE/$K8S_VERSION/bin.tmp"
rm -rf "$TMP"; mkdir -p "$SRC" "$TMP"
# Private Go caches (shared by all versions), so nothing in ~/go or ~/.cache/go-build
# is touched and IRONLB_KUBE_CLEAN=1 can drop them.
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build" GOPATH="$CACHE/go/path"
export GOFLAGS="-trimpath -mod=mod -buildvcs=false" CGO_ENABLED=0
export GOTOOLCHAIN=${GOTOOLCHAIN:-local}

ver_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]; }
minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
staging="v0.${K8S_VERSION#v1.}"

log "k8s.io/kubernetes@$K8S_VERSION: fetching go.mod"
gomod=$(cd "$SRC" && GOFLAGS='' go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
          | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",*$/\1/p')
[ -s "$gomod" ] || { log "no go.mod for k8s.io/kubernetes@$K8S_VERSION from the Go module proxy"; exit 1; }
need=$(awk '$1=="go"{print $2; exit}' "$gomod")
have=$(go env GOVERSION); have=${have#go}
if ! ver_ge "$have" "$need"; then
  ver_ge "$have" 1.21 || { log "go $have is too old (need >= $need, or >= 1.21 to fetch it)"; exit 1; }
  export GOTOOLCHAIN="go$need"     # fetched as golang.org/toolchain from the module proxy
fi
log "using $(go version) (k8s $K8S_VERSION wants go >= $need)"

# --- the scratch module ---
{
  echo "module ironlb.test/kube"; echo
  echo "go $need"
  grep -E '^godebug ' "$gomod" || true      # same runtime GODEBUG defaults as upstream builds
  echo; echo "require k8s.io/kubernetes $K8S_VERSION"; echo
  grep -E '=>[[:space:]]+\./staging/' "$gomod" | awk -v sv="$staging" '{print "replace " $1 " => " $1 " " sv}'
} > "$SRC/go.mod"
mkdir -p "$SRC/etcd"
cat > "$SRC/etcd/main.go" <<'EOF'
// etcd server, as go.etcd.io/etcd/v3's own main.go does it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
etcd_ver=$(awk '$1=="go.etcd.io/etcd/server/v3"{print $2; exit}' "$gomod")
(
  cd "$SRC"
  rm -f go.sum
  log "resolving the module graph (downloads ~1 GB of module zips on a cold cache)"
  go get "k8s.io/kubernetes@$K8S_VERSION" ${etcd_ver:+"go.etcd.io/etcd/server/v3@$etcd_ver"} >&2
  ldf="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldf="$ldf -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ldf="$ldf -X $p.gitTreeState=clean -X $p.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  done
  log "go build -p $JOBS kube-apiserver kube-controller-manager kube-scheduler kubectl etcd (cold: ~7 min on 2 cores)"
  go build -p "$JOBS" -ldflags "$ldf" -o "$TMP/" \
    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl ./etcd >&2
)
if [[ " ${BINS[*]} " == *" kwok "* ]]; then
  log "go install sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  (cd "$TMP" && GOFLAGS="-trimpath -buildvcs=false" GOBIN="$TMP" \
     go install -p "$JOBS" -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2)
fi
{
  echo "k8s $K8S_VERSION from the Go module proxy; $(go version); etcd $("$TMP/etcd" --version | head -n 1)"
  [ -x "$TMP/kwok" ] && "$TMP/kwok" --version
  echo "built $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - start)) s"
  for b in "${BINS[@]}"; do echo "$b $(( $(stat -c %s "$TMP/$b") / 1048576 )) MB"; done
} > "$TMP/.complete"
rm -rf "$OUT"; mv "$TMP" "$OUT"
if [ "${IRONLB_KUBE_CLEAN:-}" = 1 ]; then
  chmod -R u+w "$CACHE/go" 2>/dev/null || true; rm -rf "$CACHE/go"
elif [ "${IRONLB_KUBE_KEEP_GOCACHE:-}" != 1 ]; then
  rm -rf "$GOCACHE"
fi
log "done in $((SECONDS - start)) s: $OUT"
echo "$OUT"
