#!/usr/bin/env bash
# smoke.sh DIR: quick end-to-end check of a cluster started by `up.sh DIR`.
# Creates a CRD + custom resource, a LoadBalancer Service and patches its status
# subresource, a Lease, a Node (+status) and an EndpointSlice, then deletes them.
# If up.sh started kube-controller-manager (IRONLB_KUBE_KCM=1): also a hand-made Pod
# (spec.nodeName set, status patched Running/Ready with a podIP) must show up in the
# EndpointSlice the controller makes for a selector Service, and leave it once deleted.
# If up.sh started kwok (IRONLB_KUBE_KWOK=1): an annotated Node must become Ready and
# a Pod on it Running with an IP, and a graceful Pod delete must finish.
# Exits non-zero on the first failure.
set -euo pipefail
DIR=${1:?usage: smoke.sh DIR}
# shellcheck disable=SC1091
. "$DIR/env"
K="$IRONLB_KUBE_BIN/kubectl"
step() { echo "smoke: $*" >&2; }

step "namespaces"; "$K" get ns >/dev/null
step "CRD"
"$K" apply -f - >/dev/null <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: smokepools.smoke.ironlb.test}
spec:
  group: smoke.ironlb.test
  scope: Namespaced
  names: {kind: SmokePool, plural: smokepools, singular: smokepool}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              addresses: {type: array, items: {type: string}}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
EOF
"$K" wait --for=condition=Established --timeout=30s crd/smokepools.smoke.ironlb.test >/dev/null
step "custom resource"
"$K" apply -f - >/dev/null <<'EOF'
apiVersion: smoke.ironlb.test/v1
kind: SmokePool
metadata: {name: pool1, namespace: default}
spec: {addresses: ["203.0.113.0/28"]}
EOF
"$K" get smokepool pool1 -o jsonpath='{.spec.addresses[0]}' | grep -qx 203.0.113.0/28

step "LoadBalancer Service + status subresource"
"$K" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: smoke-lb, namespace: default}
spec:
  type: LoadBalancer
  selector: {app: smoke}
  ports: [{port: 80, targetPort: 8080, protocol: TCP}]
EOF
# raw PATCH to .../status works with any kubectl version (--subresource needs >= 1.24)
"$K" get --raw "/api/v1/namespaces/default/services/smoke-lb/status" >/dev/null
kpatch_status() {  # $1 = API path of the object, $2 = JSON merge patch
  local url="$IRONLB_API_URL$1/status" pki="$DIR/pki"
  curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" \
    -X PATCH -H 'Content-Type: application/merge-patch+json' --data "$2" "$url" >/dev/null
}
kpatch_status /api/v1/namespaces/default/services/smoke-lb '{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.5"}]}}}'
"$K" get svc smoke-lb -o jsonpath='{.status.loadBalancer.ingress[0].ip}' | grep -qx 203.0.113.5

step "Lease"
"$K" apply -f - >/dev/null <<'EOF'
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: smoke-leader, namespace: default}
spec: {holderIdentity: smoke, leaseDurationSeconds: 15}
EOF
step "Node + status"
"$K" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata: {name: smoke-node, labels: {kubernetes.io/hostname: smoke-node}}
EOF
kpatch_status /api/v1/nodes/smoke-node '{"status":{"addresses":[{"type":"InternalIP","address":"192.0.2.21"}]}}'

step "EndpointSlice"
if "$K" get --raw /apis/discovery.k8s.io/v1 >/dev/null 2>&1; then
  ev=v1; topo="nodeName: smoke-node"
else
  ev=v1beta1; topo="topology: {kubernetes.io/hostname: smoke-node}"   # k8s < 1.21
fi
"$K" apply -f - >/dev/null <<EOF
apiVersion: discovery.k8s.io/$ev
kind: EndpointSlice
metadata: {name: smoke-lb-1, namespace: default, labels: {kubernetes.io/service-name: smoke-lb}}
addressType: IPv4
ports: [{name: "", port: 8080, protocol: TCP}]
endpoints:
- addresses: ["192.0.2.10"]
  conditions: {ready: true}
  $topo
EOF

if grep -q '^kube-controller-manager ' "$DIR/pids" 2>/dev/null; then
  step "kube-controller-manager: Ready Pod -> EndpointSlice"
  "$K" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: smoke-eps, namespace: default}
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: smoke-eps}
  ports: [{port: 80, targetPort: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Pod
metadata: {name: smoke-pod, namespace: default, labels: {app: smoke-eps}}
spec:
  nodeName: smoke-node
  automountServiceAccountToken: false
  containers: [{name: c, image: registry.invalid/none, ports: [{containerPort: 8080}]}]
EOF
  kpatch_status /api/v1/namespaces/default/pods/smoke-pod '{"status":{"phase":"Running","podIP":"10.244.0.5","podIPs":[{"ip":"10.244.0.5"}],"hostIP":"192.0.2.21","conditions":[{"type":"Ready","status":"True"},{"type":"ContainersReady","status":"True"}]}}'
  eps() { "$K" get endpointslices.discovery.k8s.io -n default -l kubernetes.io/service-name=smoke-eps \
            -o jsonpath='{range .items[*].endpoints[*]}{.addresses[0]}/{.nodeName}/{.conditions.ready} {end}'; }
  got=
  for _ in $(seq 1 60); do got=$(eps); case "$got" in *10.244.0.5/smoke-node/true*) break ;; esac; sleep 0.25; done
  case "$got" in *10.244.0.5/smoke-node/true*) ;; *) echo "smoke: no EndpointSlice endpoint for the Pod (got '$got')" >&2; exit 1 ;; esac
  "$K" delete pod/smoke-pod -n default --grace-period=0 --force >/dev/null 2>&1   # no kubelet: a graceful delete would stay Terminating
  for _ in $(seq 1 60); do got=$(eps); [ -z "$got" ] && break; sleep 0.25; done
  [ -z "$got" ] || { echo "smoke: Pod deleted but still in the EndpointSlice ('$got')" >&2; exit 1; }
  "$K" delete svc/smoke-eps -n default >/dev/null
fi

if grep -q '^kwok ' "$DIR/pids" 2>/dev/null; then
  step "kwok: fake Node Ready, Pod Running with an IP"
  "$K" apply -f - >/dev/null <<'EOF'
apiVersion: v1
kind: Node
metadata: {name: smoke-kwok, annotations: {kwok.x-k8s.io/node: fake}, labels: {kubernetes.io/hostname: smoke-kwok}}
---
apiVersion: v1
kind: Pod
metadata: {name: smoke-kwok-pod, namespace: default}
spec:
  nodeName: smoke-kwok
  automountServiceAccountToken: false
  containers: [{name: c, image: registry.invalid/none}]
EOF
  "$K" wait --for=condition=Ready --timeout=30s node/smoke-kwok >/dev/null
  "$K" wait --for=condition=Ready --timeout=30s -n default pod/smoke-kwok-pod >/dev/null
  "$K" get pod -n default smoke-kwok-pod -o jsonpath='{.status.podIP}' | grep -qE '^[0-9.]+$'
  "$K" delete pod -n default smoke-kwok-pod --timeout=30s >/dev/null
  "$K" delete node smoke-kwok >/dev/null
fi

step "cleanup"
"$K" delete endpointslice.discovery.k8s.io/smoke-lb-1 svc/smoke-lb lease/smoke-leader smokepool/pool1 -n default >/dev/null
"$K" delete node/smoke-node crd/smokepools.smoke.ironlb.test >/dev/null
echo "smoke: OK (server $("$K" version -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\([^"]*\)".*/\1/p' | tail -n 1), EndpointSlice $ev)" >&2
