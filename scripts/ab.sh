#!/usr/bin/env bash
# Interleaved A/B comparison of two silo builds: both clusters run side by side (A on 5081.., B on
# 5181..) and the load tool measures them in turns, A B A B ..., so both see the same machine.
# (Restarting a cluster per measurement made the first-measured build look faster, and the VM's speed
# drifts by minutes; turns a few seconds apart cancel both.)
#   scripts/ab.sh A_SILO_DLL B_SILO_DLL ROUNDS WORKLOADS CLIENTS [extra load-tool options]
# Example: scripts/ab.sh ../base/Coordination.Silo/bin/Release/net10.0/Coordination.Silo.dll \
#            Coordination.Silo/bin/Release/net10.0/Coordination.Silo.dll 6 lock-contended,config-put 64
# Each turn prints the load tool's rows prefixed with A or B; `scripts/ab.sh ... | sort -k2,2 -k1,1`
# groups them. Extra silo environment: A_ENV / B_ENV ("NAME=value ...").
# The cluster not being measured is frozen (SIGSTOP) during the other's turn: an idle cluster still
# burns CPU (heartbeats, thread-pool spinning), and a change to that cost would otherwise show up as
# a change in the *other* build's figures. Frozen together, its silos resume without an election.
set -euo pipefail
cd "$(dirname "$0")/.."
a_bin=$1 b_bin=$2 rounds=$3 workloads=$4 clients=$5
shift 5
# With --http 2 among the extra options, the silos get HTTP/2 ports and are measured there; otherwise
# none (a build from before the fourth --members port refuses it).
if [[ " $* " == *" --http 2 "* ]]; then export CLUSTER_HTTP2=1; port=7081; else export CLUSTER_HTTP2=0; port=5081; fi
freeze() { for f in "data/ab-$1"/silo-*.pid; do kill "-$2" "$(cat "$f")"; done; }
stop() {
  freeze a CONT 2>/dev/null || true; freeze b CONT 2>/dev/null || true
  CLUSTER_DIR=data/ab-a scripts/cluster.sh stop >/dev/null 2>&1 || true
  CLUSTER_DIR=data/ab-b CLUSTER_PORT_OFFSET=100 scripts/cluster.sh stop >/dev/null 2>&1 || true
}
trap stop EXIT
rm -rf data/ab-a data/ab-b
# shellcheck disable=SC2086 # A_ENV and B_ENV are lists of assignments
env ${A_ENV:-} SILO_BIN="$a_bin" CLUSTER_DIR=data/ab-a scripts/cluster.sh start 3 >/dev/null
# shellcheck disable=SC2086
env ${B_ENV:-} SILO_BIN="$b_bin" CLUSTER_DIR=data/ab-b CLUSTER_PORT_OFFSET=100 scripts/cluster.sh start 3 >/dev/null
bench() {
  dotnet run -c Release --no-build --project Coordination.Bench -- --endpoints "$1" --cluster-dir "$2" \
    --workloads "$workloads" --clients "$clients" "${@:3}" | grep -v '^workload\|^#'
}
for round in $(seq 1 "$rounds"); do
  # Each turn is a new load-tool process whose own JIT needs seconds to compile its hot paths (measured
  # 3 s in, the contended lock ran 10-15% slower); the first turn also warms the cluster's.
  settle=$([ "$round" = 1 ] && echo 15 || echo 10)
  freeze b STOP; freeze a CONT
  bench "http://127.0.0.1:$port,http://127.0.0.1:$((port + 1)),http://127.0.0.1:$((port + 2))" data/ab-a --settle "$settle" "$@" | sed 's/^/A /'
  freeze a STOP; freeze b CONT
  bench "http://127.0.0.1:$((port + 100)),http://127.0.0.1:$((port + 101)),http://127.0.0.1:$((port + 102))" data/ab-b --settle "$settle" "$@" | sed 's/^/B /'
done
