#!/usr/bin/env bash
# Interleaved side-by-side runs of ZooKeeper, etcd and Coordination on this machine: all three
# 3-member clusters run at once, but only the one being measured is awake; the other two are frozen
# (SIGSTOP, all members together, so none holds an election when thawed). Each round measures the
# three in turn, a different one first each round, so the VM's drift (20% from run to run, 2-3x over
# tens of minutes) falls on all three alike. Ends with each round's ratio of ours to the better of
# the other two, per workload.
#   scripts/three-way.sh ROUNDS WORKLOADS CLIENTS [SECONDS]
#   scripts/three-way.sh 4 config-put,get-linearizable,lock-cycle,lock-contended,lock-contended-txn 64 5
# Needs etcd-server and zookeeper (Debian packages) and a Release build of the silo and load tool.
# ZooKeeper has no linearizable-read contended shape: lock-contended-linearizable runs on etcd and ours.
# MULTIPLEXED=1: clients share connections, as each system's own client can: ours over HTTP/2 (one
# connection per silo, --http 2), ZooKeeper's 64 clients over 3 sessions (--sessions 3: twice its puts
# with one session each, measured); etcd's JSON gateway takes no HTTP/2 without TLS and stays on HTTP/1.1.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=$1 workloads=$2 clients=$3 seconds=${4:-5}
zk_workloads=$(tr ',' '\n' <<<"$workloads" | grep -vx 'lock-contended-linearizable' | paste -sd, -)
bench=Coordination.Bench/bin/Release/net10.0/Coordination.Bench.dll
ours_http=() zk_sessions=()
if [ "${MULTIPLEXED:-0}" = 1 ]; then ours_http=(--http 2) zk_sessions=(--sessions 3); fi
declare -A pids=([zookeeper]=data/zookeeper/zk [etcd]=data/etcd/etcd [coordination]=data/cluster/silo)

signal() { local f; for f in "${pids[$1]}"-*.pid; do [ -f "$f" ] && kill "-$2" "$(cat "$f")" 2>/dev/null; done; return 0; }
stop() {
  local system running=() attempt
  for system in "${!pids[@]}"; do signal "$system" CONT; running+=($(cat "${pids[$system]}"-*.pid 2>/dev/null)); done
  scripts/cluster.sh stop >/dev/null 2>&1 || true
  scripts/etcd-cluster.sh stop >/dev/null 2>&1 || true
  scripts/zookeeper-cluster.sh stop >/dev/null 2>&1 || true
  # etcd takes seconds to leave once its peers are gone; the next run must not find it there.
  for attempt in $(seq 1 300); do kill -0 "${running[@]}" 2>/dev/null || break; sleep 0.1; done
}
trap stop EXIT

# Every member answers and the cluster has a leader (bounded: 10 s).
ready() {
  local attempt
  for attempt in $(seq 1 100); do
    case $1 in
      zookeeper) [ "$(for p in 2181 2182 2183; do echo srvr | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p; cat >&3; cat <&3" 2>/dev/null; done | grep -c "Mode: \(leader\|follower\)")" = 3 ] && return 0 ;;
      etcd) ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379 endpoint health >/dev/null 2>&1 && return 0 ;;
      coordination) [ "$(for p in 5081 5082 5083; do curl -sf "http://127.0.0.1:$p/readyz" >/dev/null && echo 1; done | wc -l)" = 3 ] && return 0 ;;
    esac
    sleep 0.1
  done
  echo "$1 not ready after thawing" >&2; return 1
}

measure() { # system round
  # Every load-tool process is new, and its JIT (.NET tiered compilation, Java's C2) is still compiling
  # its hot paths for seconds: measured 3 s in, ours ran 10-15% slower with a p99 of two turns of the
  # contended queue instead of 1.4. So every system's first workload warms for 10 s in every round.
  local settle=10
  case $1 in
    zookeeper) scripts/zk-bench.sh "${zk_sessions[@]}" --seconds "$seconds" --clients "$clients" --workloads "$zk_workloads" --settle "$settle" ;;
    etcd) dotnet "$bench" --target etcd --cluster-dir data/etcd --seconds "$seconds" --clients "$clients" --workloads "$workloads" --settle "$settle" ;;
    coordination) dotnet "$bench" "${ours_http[@]}" --seconds "$seconds" --clients "$clients" --workloads "$workloads" --settle "$settle" ;;
  esac | awk -v s="$1" -v r="$2" '$1 != "workload" && $1 !~ /^#/ && NF >= 3 { print r, s, $0; fflush() }'
}

scripts/zookeeper-cluster.sh start >/dev/null && signal zookeeper STOP
scripts/etcd-cluster.sh start >/dev/null && signal etcd STOP
scripts/cluster.sh start 3 >/dev/null && signal coordination STOP
order=(zookeeper etcd coordination)
results=$(mktemp)
for round in $(seq 1 "$rounds"); do
  for k in 0 1 2; do
    system=${order[$(( (round - 1 + k) % 3 ))]}
    signal "$system" CONT
    ready "$system"
    measure "$system" "$round" | tee -a "$results"
    signal "$system" STOP
  done
done

echo
echo "# ops/s per round; x = ours / the better of ZooKeeper and etcd"
awk '{ ops[$3 " " $1 " " $2] = $5; seen[$3] = 1; if ($1 > n) n = $1 }
  END {
    for (w in seen) for (i = 1; i <= n; i++) {
      z = ops[w " " i " zookeeper"] + 0; e = ops[w " " i " etcd"] + 0; c = ops[w " " i " coordination"] + 0
      best = z > e ? z : e
      printf "%-28s round %d  zookeeper %7d  etcd %7d  coordination %7d  x %.2f\n", w, i, z, e, c, (best > 0 ? c / best : 0)
    }
  }' "$results" | sort
rm -f "$results"
