#!/usr/bin/env bash
# Start, stop or inspect a local cluster of silos on 127.0.0.1.
#   scripts/cluster.sh start [N]   build once, start N silos (default 3): clients on 5081.., peers on 6081..,
#                                  the same API over HTTP/2 without TLS on 7081.. (CLUSTER_HTTP2=0: none)
#   scripts/cluster.sh stop        stop them gracefully (leadership is handed over first)
#   scripts/cluster.sh status      show each silo's view of the cluster
#   scripts/cluster.sh kill ID     kill -9 one silo (for fault experiments)
#   scripts/cluster.sh restart ID  start a stopped or killed silo again with its data
# Data and logs live in ./data/cluster/silo-ID{,.log,.pid} (or CLUSTER_DIR). Extra silo options: SILO_ARGS="--tick-ms 20".
# SILO_BIN=path/to/Coordination.Silo.dll runs another build (A/B comparisons; the build step is skipped).
# CLUSTER_DIR (default data/cluster) and CLUSTER_PORT_OFFSET (default 0: ports 5081.., 6081.., 7081..) let two
# clusters run side by side (interleaved A/B rounds: scripts/ab.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
root=${CLUSTER_DIR:-data/cluster}
offset=${CLUSTER_PORT_OFFSET:-0}
bin=${SILO_BIN:-Coordination.Silo/bin/Release/net10.0/Coordination.Silo.dll}
mkdir -p "$root"

members() {
  local n=$1 list=""
  for i in $(seq 1 "$n"); do
    list="${list:+$list,}$i=127.0.0.1:$((5080 + offset + i)):$((6080 + offset + i))"
    if [ "${CLUSTER_HTTP2:-1}" != 0 ]; then list="$list:$((7080 + offset + i))"; fi
  done
  echo "$list"
}

start_one() {
  local id=$1 n=$2
  # shellcheck disable=SC2086 # SILO_ARGS is a list of options
  nohup dotnet "$bin" --node-id "$id" --data-dir "$root/silo-$id" --members "$(members "$n")" ${SILO_ARGS:-} \
    >"$root/silo-$id.log" 2>&1 &
  echo $! >"$root/silo-$id.pid"
  echo "silo $id: pid $!, http://127.0.0.1:$((5080 + offset + id)), log $root/silo-$id.log"
}

case "${1:-}" in
  start)
    n=${2:-3}
    for i in $(seq 1 "$n"); do
      # A cluster left running would answer the readiness probe below for the new one, which could not bind.
      if curl -fs -o /dev/null "http://127.0.0.1:$((5080 + offset + i))/readyz" 2>/dev/null; then
        echo "port $((5080 + offset + i)) already serves a silo; stop that cluster first" >&2; exit 1
      fi
    done
    echo "$n" >"$root/size"
    [ -n "${SILO_BIN:-}" ] || dotnet build -c Release Coordination.Silo >/dev/null
    for i in $(seq 1 "$n"); do start_one "$i" "$n"; done
    for attempt in $(seq 1 100); do
      if curl -fs "http://127.0.0.1:$((5081 + offset))/readyz" >/dev/null 2>&1; then echo "cluster ready"; exit 0; fi
      sleep 0.1
    done
    echo "cluster not ready after 10 s; see $root/*.log" >&2; exit 1 ;;
  stop)
    stop_pid_files "$root"/silo-*.pid ;;
  kill)
    kill -9 "$(cat "$root/silo-$2.pid")" && rm -f "$root/silo-$2.pid" && echo "killed silo $2" ;;
  restart)
    start_one "$2" "$(cat "$root/size")" ;;
  status)
    for i in $(seq 1 "$(cat "$root/size" 2>/dev/null || echo 3)"); do
      printf 'silo %s: ' "$i"; curl -fs "http://127.0.0.1:$((5080 + offset + i))/v1/cluster" || echo "down"; echo
    done ;;
  *)
    sed -n '2,11p' "$0"; exit 2 ;;
esac
