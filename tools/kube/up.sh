#!/usr/bin/env bash
# up.sh DIR [BIND_ADDR]
# Starts a real etcd + kube-apiserver (no kubelet; kube-controller-manager, kube-scheduler
# and kwok only when asked, see below) with all state under DIR, waits for /readyz, and writes:
#   DIR/kubeconfig  admin kubeconfig (client cert in group system:masters, data inlined)
#   DIR/pids        "NAME PID" lines, one per process started, for down.sh
#   DIR/env         KUBECONFIG, API URLs, ports, bin dir (sourceable)
#   DIR/*.log       server logs
# kube-apiserver serves on BIND_ADDR (default 127.0.0.1): one address of this network
# namespace, or 0.0.0.0 / :: for all of them (then up.sh itself uses 127.0.0.1 / ::1,
# and the serving cert also names every address the namespace has at start).
# IRONLB_KUBECONFIG_SERVER=ADDR: the address DIR/kubeconfig points at (default: the
#   bind address, or loopback for 0.0.0.0 / ::), e.g. a bridge/veth address that lab
#   node namespaces route to; it is added to the cert. It must answer from here too
#   (smoke.sh uses DIR/kubeconfig); kube-controller-manager/-scheduler use loopback.
# IRONLB_APISERVER_SANS adds names to the cert (comma list: 10.1.2.3,DNS:foo,IP:fd00::1).
# An address not in the cert works with `tls-server-name: kubernetes` in the kubeconfig.
# etcd is always on 127.0.0.1. Run inside a network namespace (ip netns exec NS up.sh DIR
# VETH_ADDR) it brings that namespace's lo up if it is down.
# Overrides: IRONLB_KUBE_BIN (bin dir; default: output of build.sh),
#   IRONLB_APISERVER_PORT, IRONLB_ETCD_PORT, IRONLB_ETCD_PEER_PORT (default: free ports),
#   IRONLB_SERVICE_CIDR (default 10.96.0.0/16, only allocated, never routed),
#   IRONLB_READY_TIMEOUT (seconds, default 180), IRONLB_APISERVER_ARGS (extra flags),
#   IRONLB_KUBE_KCM=1: also run kube-controller-manager with only the controllers
#     IRONLB_KCM_CONTROLLERS (default namespace,garbagecollector,serviceaccount,
#     serviceaccount-token,endpoint,endpointslice): namespace deletion finishes,
#     ownerReferences cascade, and hand-made Ready Pods fill Endpoints/EndpointSlices.
#   IRONLB_KUBE_SCHEDULER=1: also run kube-scheduler (binds Pods to Nodes; no kubelet runs them).
#   IRONLB_KUBE_KWOK=1: also run kwok (fake kubelets) for Nodes annotated
#     kwok.x-k8s.io/node=fake: it makes them Ready (keeps their status.addresses if set)
#     and their Pods Running with an IP from IRONLB_KWOK_POD_CIDR (default 10.244.0.1/16),
#     and finishes graceful Pod deletion.
set -euo pipefail

DIR=${1:?usage: up.sh DIR [BIND_ADDR]}
ADDR=${2:-127.0.0.1}
ADDR=${ADDR#[}; ADDR=${ADDR%]}
case "$ADDR" in
  0.0.0.0) WILD=1; LOCAL=127.0.0.1 ;;   # all addresses; up.sh itself uses loopback
  ::)      WILD=1; LOCAL=::1 ;;
  *)       WILD=;  LOCAL=$ADDR ;;
esac
SERVER=${IRONLB_KUBECONFIG_SERVER:-$LOCAL}; SERVER=${SERVER#[}; SERVER=${SERVER%]}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BIN=${IRONLB_KUBE_BIN:-$(bash "$HERE/build.sh")}
SVC_CIDR=${IRONLB_SERVICE_CIDR:-10.96.0.0/16}
TIMEOUT=${IRONLB_READY_TIMEOUT:-180}

for b in etcd kube-apiserver; do
  [ -x "$BIN/$b" ] || { echo "up.sh: $BIN/$b missing (run build.sh)" >&2; exit 1; }
done
# Loopback must be up even when serving on another address: etcd listens on
# 127.0.0.1, and Linux routes traffic to any local address through lo (a fresh
# `ip netns add` namespace has lo down, and then nothing local connects).
if command -v ip >/dev/null; then
  if ! ip -o link show lo | grep -q '[<,]UP[,>]'; then
    echo "up.sh: loopback is down in this network namespace; bringing it up" >&2
    ip link set lo up || { echo "up.sh: cannot bring lo up (need CAP_NET_ADMIN here)" >&2; exit 1; }
  fi
  if [ -z "$WILD" ] && ! ip -o addr show | awk '{sub("/.*","",$4); print $4}' | grep -qxF "$ADDR"; then
    echo "up.sh: $ADDR is not an address of this network namespace" >&2; exit 1
  fi
fi
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
if [ -s "$DIR/pids" ]; then echo "up.sh: $DIR/pids exists; run down.sh $DIR first" >&2; exit 1; fi
touch "$DIR/.ironlb-kube"   # marker: down.sh only deletes directories carrying it

# A port is free if a TCP connect to it on $2 (default ADDR) is refused; try random ones.
# shellcheck disable=SC2016  # $0/$1 expand in the inner bash
port_free() { ! timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "${2:-$LOCAL}" "$1" 2>/dev/null; }
pick_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 12000 ))   # 20000-31999: below the ephemeral range
    case " ${USED_PORTS:-} " in *" $p "*) continue ;; esac
    if port_free "$p" "$LOCAL" && port_free "$p" 127.0.0.1; then USED_PORTS="${USED_PORTS:-} $p"; echo "$p"; return 0; fi
  done
  echo "up.sh: no free port on $ADDR" >&2; return 1
}
ETCD_PORT=${IRONLB_ETCD_PORT:-$(pick_port)}; USED_PORTS="${USED_PORTS:-} $ETCD_PORT"
ETCD_PEER_PORT=${IRONLB_ETCD_PEER_PORT:-$(pick_port)}; USED_PORTS="$USED_PORTS $ETCD_PEER_PORT"
API_PORT=${IRONLB_APISERVER_PORT:-$(pick_port)}

# URLs need brackets around IPv6 literals.
bracket() { case "$1" in *:*) echo "[$1]" ;; *) echo "$1" ;; esac; }

# --- PKI: CA, serving cert, admin client cert, service-account key pair ---
PKI="$DIR/pki"; mkdir -p "$PKI"; chmod 700 "$PKI"
(
  cd "$PKI"
  umask 077
  ossl() { openssl "$@" 2>/dev/null; }
  ossl ecparam -name prime256v1 -genkey -noout -out ca.key
  ossl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=ironlb-test-ca" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" -out ca.crt
  # first IP of the service range is the "kubernetes" service IP
  SVC_IP=$(echo "${SVC_CIDR%/*}" | awk -F. '{printf "%d.%d.%d.%d", $1,$2,$3,$4+1}')
  sans=("$SERVER" "$LOCAL" 127.0.0.1 "$SVC_IP" DNS:localhost DNS:kubernetes DNS:kubernetes.default
        DNS:kubernetes.default.svc DNS:kubernetes.default.svc.cluster.local)
  if [ -n "$WILD" ] && command -v ip >/dev/null; then
    mapfile -t -O ${#sans[@]} sans < <(ip -o addr show | awk '{sub("/.*","",$4); print $4}' | grep -v '^fe80:')
  fi
  [ -n "${IRONLB_APISERVER_SANS:-}" ] && IFS=, read -r -a extra <<< "$IRONLB_APISERVER_SANS" && sans+=("${extra[@]}")
  SAN=$(printf '%s\n' "${sans[@]}" | awk 'NF && !seen[$0]++ { if ($0 !~ /^(DNS|IP):/) $0 = "IP:" $0; printf "%s%s", (n++ ? "," : ""), $0 }')
  ossl ecparam -name prime256v1 -genkey -noout -out apiserver.key
  ossl req -new -key apiserver.key -subj "/CN=kube-apiserver" -out apiserver.csr
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth" "subjectAltName=$SAN" > apiserver.ext
  ossl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
    -extfile apiserver.ext -out apiserver.crt
  ossl ecparam -name prime256v1 -genkey -noout -out admin.key
  ossl req -new -key admin.key -subj "/O=system:masters/CN=ironlb-admin" -out admin.csr
  printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=clientAuth" > admin.ext
  ossl x509 -req -in admin.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
    -extfile admin.ext -out admin.crt
  ossl genrsa -out sa.key 2048
  ossl rsa -in sa.key -pubout -out sa.pub
  rm -f ./*.csr ./*.ext ./*.srl
)
if ! [ -s "$PKI/admin.crt" ] || ! [ -s "$PKI/sa.pub" ]; then echo "up.sh: openssl failed" >&2; exit 1; fi

# --- kubeconfig with inlined credentials ---
b64() { base64 -w0 < "$1"; }
API_URL="https://$(bracket "$SERVER"):$API_PORT"     # in DIR/kubeconfig
LOCAL_URL="https://$(bracket "$LOCAL"):$API_PORT"    # what up.sh and the controllers use
umask 077
kubeconfig() {  # $1 = server URL
  cat <<EOF
apiVersion: v1
kind: Config
clusters:
- name: ironlb-test
  cluster:
    server: $1
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: ironlb-admin
  user:
    client-certificate-data: $(b64 "$PKI/admin.crt")
    client-key-data: $(b64 "$PKI/admin.key")
contexts:
- name: ironlb-test
  context: {cluster: ironlb-test, user: ironlb-admin}
current-context: ironlb-test
EOF
}
kubeconfig "$API_URL" > "$DIR/kubeconfig"
kubeconfig "$LOCAL_URL" > "$PKI/local.kubeconfig"
umask 022

# --- start etcd ---
: > "$DIR/pids"
# etcd stays on loopback: only kube-apiserver talks to it.
E=127.0.0.1
"$BIN/etcd" --name=default --data-dir="$DIR/etcd" \
  --listen-client-urls="http://$E:$ETCD_PORT" --advertise-client-urls="http://$E:$ETCD_PORT" \
  --listen-peer-urls="http://$E:$ETCD_PEER_PORT" --initial-advertise-peer-urls="http://$E:$ETCD_PEER_PORT" \
  --initial-cluster="default=http://$E:$ETCD_PEER_PORT" --initial-cluster-state=new \
  > "$DIR/etcd.log" 2>&1 < /dev/null &
echo "etcd $!" >> "$DIR/pids"

fail() {
  echo "up.sh: $1; last log lines:" >&2; tail -n 20 "$2" >&2 || true
  bash "$HERE/down.sh" "$DIR" --keep >&2 || true
  exit 1
}
for _ in $(seq 1 100); do
  port_free "$ETCD_PORT" 127.0.0.1 || break
  kill -0 "$(awk '$1=="etcd"{print $2}' "$DIR/pids")" 2>/dev/null || fail "etcd exited" "$DIR/etcd.log"
  sleep 0.2
done

# --- start kube-apiserver ---
# endpoint-reconciler none: no "kubernetes" Endpoints to keep (a loopback advertise
# address would be rejected there, and nothing here consumes it).
# shellcheck disable=SC2086
"$BIN/kube-apiserver" \
  --etcd-servers="http://$E:$ETCD_PORT" \
  --bind-address="$ADDR" --secure-port="$API_PORT" --advertise-address="${IRONLB_ADVERTISE_ADDR:-$LOCAL}" \
  --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
  --client-ca-file="$PKI/ca.crt" \
  --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
  --service-account-issuer="https://kubernetes.default.svc.cluster.local" \
  --service-cluster-ip-range="$SVC_CIDR" \
  --authorization-mode=RBAC \
  --endpoint-reconciler-type=none \
  --cert-dir="$PKI" --profiling=false --v=1 \
  ${IRONLB_APISERVER_ARGS:-} \
  > "$DIR/kube-apiserver.log" 2>&1 < /dev/null &
echo "kube-apiserver $!" >> "$DIR/pids"

cat > "$DIR/env" <<EOF
export KUBECONFIG=$DIR/kubeconfig
IRONLB_API_URL=$API_URL
IRONLB_LOCAL_URL=$LOCAL_URL
IRONLB_APISERVER_PORT=$API_PORT
IRONLB_ETCD_PORT=$ETCD_PORT
IRONLB_KUBE_BIN=$BIN
EOF

# --- wait for /readyz ---
APID=$(awk '$1=="kube-apiserver"{print $2}' "$DIR/pids")
start=$SECONDS
while :; do
  out=$(curl -s --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
        "$LOCAL_URL/readyz" 2>/dev/null || true)
  [ "$out" = ok ] && break
  kill -0 "$APID" 2>/dev/null || fail "kube-apiserver exited" "$DIR/kube-apiserver.log"
  [ $((SECONDS - start)) -ge "$TIMEOUT" ] && fail "no /readyz after ${TIMEOUT}s" "$DIR/kube-apiserver.log"
  sleep 0.5
done

# --- optional kube-controller-manager (no serving port; admin kubeconfig) ---
if [ "${IRONLB_KUBE_KCM:-0}" = 1 ]; then
  [ -x "$BIN/kube-controller-manager" ] || fail "$BIN/kube-controller-manager missing (rebuild with build.sh)" /dev/null
  CTRLS=${IRONLB_KCM_CONTROLLERS:-namespace,garbagecollector,serviceaccount,serviceaccount-token,endpoint,endpointslice}
  kflags=(--kubeconfig="$PKI/local.kubeconfig" --leader-elect=false --secure-port=0 --controllers="$CTRLS"
          --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt"
          --use-service-account-credentials=false --v=1)
  # k8s < 1.24 also serves plain HTTP on *:10252 unless told not to (help read whole:
  # grep -q in a pipe would SIGPIPE the program, and pipefail would then say no)
  khelp=$("$BIN/kube-controller-manager" --help 2>&1 || true)
  case "$khelp" in *"--port int"*) kflags+=(--port=0) ;; esac
  "$BIN/kube-controller-manager" "${kflags[@]}" > "$DIR/kube-controller-manager.log" 2>&1 < /dev/null &
  KPID=$!; echo "kube-controller-manager $KPID" >> "$DIR/pids"
  # ready once the serviceaccount controller has made default/default (if it runs)
  for _ in $(seq 1 120); do
    kill -0 "$KPID" 2>/dev/null || fail "kube-controller-manager exited" "$DIR/kube-controller-manager.log"
    case ",$CTRLS," in *,serviceaccount,*) ;; *) break ;; esac
    curl -sf --max-time 5 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
      "$LOCAL_URL/api/v1/namespaces/default/serviceaccounts/default" >/dev/null 2>&1 && break
    sleep 0.5
  done
fi
# --- optional kube-scheduler (no serving port; admin kubeconfig) ---
# Binds Pods without spec.nodeName to a Node that fits; with no kubelet they stay Pending.
if [ "${IRONLB_KUBE_SCHEDULER:-0}" = 1 ]; then
  [ -x "$BIN/kube-scheduler" ] || fail "$BIN/kube-scheduler missing (rebuild with build.sh)" /dev/null
  "$BIN/kube-scheduler" --kubeconfig="$PKI/local.kubeconfig" \
    --authentication-kubeconfig="$PKI/local.kubeconfig" --authorization-kubeconfig="$PKI/local.kubeconfig" --leader-elect=false --secure-port=0 --v=1 \
    > "$DIR/kube-scheduler.log" 2>&1 < /dev/null &
  echo "kube-scheduler $!" >> "$DIR/pids"
fi
# --- optional kwok (fake kubelets for annotated Nodes) ---
if [ "${IRONLB_KUBE_KWOK:-0}" = 1 ]; then
  [ -x "$BIN/kwok" ] || fail "$BIN/kwok missing (rebuild with build.sh)" /dev/null
  "$BIN/kwok" --kubeconfig="$PKI/local.kubeconfig" --manage-all-nodes=false \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --cidr="${IRONLB_KWOK_POD_CIDR:-10.244.0.1/16}" --node-ip="${IRONLB_KWOK_NODE_IP:-192.0.2.200}" \
    > "$DIR/kwok.log" 2>&1 < /dev/null &
  echo "kwok $!" >> "$DIR/pids"
fi
echo "up.sh: ready in $((SECONDS - start))s at $API_URL; KUBECONFIG=$DIR/kubeconfig" >&2
echo "$DIR/kubeconfig"
