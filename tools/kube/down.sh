#!/usr/bin/env bash
# down.sh DIR [--keep]
# Stops the processes up.sh recorded in DIR/pids (etcd, kube-apiserver and the optional
# kube-controller-manager, kube-scheduler, kwok), by PID only, newest first
# (each PID is checked against the expected program name first, so a reused PID
# is never signalled), then deletes the state up.sh wrote under DIR.
# --keep: stop the processes but keep DIR (logs, certs) for inspection.
set -euo pipefail

DIR=${1:?usage: down.sh DIR [--keep]}
KEEP=${2:-}
[ -d "$DIR" ] || exit 0

alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

if [ -f "$DIR/pids" ]; then
  # reverse start order: kube-apiserver first, then etcd
  tac "$DIR/pids" | while read -r name pid; do
    case "$pid" in ''|*[!0-9]*) continue ;; esac
    alive "$pid" || continue
    # argv[0] must end in the recorded program name
    arg0=$(tr '\0' '\n' < "/proc/$pid/cmdline" 2>/dev/null | head -n 1 || true)
    [ "${arg0##*/}" = "$name" ] || continue
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 75); do alive "$pid" || break; sleep 0.2; done
    if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -f "$DIR/pids"
fi

[ "$KEEP" = --keep ] && exit 0
# only remove what up.sh created, and only in a directory it marked
if [ -f "$DIR/.ironlb-kube" ]; then
  rm -rf "$DIR/etcd" "$DIR/pki" "$DIR/kubeconfig" "$DIR/env" \
         "$DIR/etcd.log" "$DIR/kube-apiserver.log" "$DIR/kube-controller-manager.log" "$DIR/kube-scheduler.log" "$DIR/kwok.log" "$DIR/.ironlb-kube"
  rmdir "$DIR" 2>/dev/null || true
fi
