#!/usr/bin/env bash
# A 3-member etcd cluster on 127.0.0.1 for side-by-side load-tool runs (docs/benchmarks.md).
#   apt-get install -y etcd-server     (Debian 12: etcd 3.4)
#   scripts/etcd-cluster.sh start      clients on 2379, 22379, 32379; peers on 2380, 22380, 32380
#   scripts/etcd-cluster.sh stop
# Data and logs live in ./data/etcd/etcd-N{,.log,.pid}; every commit is fsynced (etcd's default).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
root=data/etcd
cluster="e1=http://127.0.0.1:2380,e2=http://127.0.0.1:22380,e3=http://127.0.0.1:32380"
case "${1:-}" in
  start)
    mkdir -p "$root"
    for i in 1 2 3; do
      client=$(( i == 1 ? 2379 : i * 10000 + 2379 )); peer=$(( client + 1 ))
      nohup etcd --name "e$i" --data-dir "$root/etcd-$i" \
        --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token coordination-bench \
        >"$root/etcd-$i.log" 2>&1 &
      echo $! >"$root/etcd-$i.pid"
    done
    for attempt in $(seq 1 100); do
      if ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:2379 endpoint health >/dev/null 2>&1; then echo "etcd ready"; exit 0; fi
      sleep 0.1
    done
    echo "etcd not ready after 10 s; see $root/*.log" >&2; exit 1 ;;
  stop)
    stop_pid_files "$root"/etcd-*.pid ;;
  *)
    sed -n '2,6p' "$0"; exit 2 ;;
esac
