#!/usr/bin/env bash
# Start or stop a 3-server ZooKeeper 3.8 ensemble on 127.0.0.1 (Debian's `zookeeper` package), for
# side-by-side runs of the load tool's ZooKeeper twin (tools/zk-bench). Defaults: fsync on every
# write (forceSync=yes), as ours and etcd run.
#   scripts/zookeeper-cluster.sh start | stop
# Client ports 2181-2183; data and logs in ./data/zookeeper.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
root=data/zookeeper
cp=/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-simple.jar:/usr/share/java/netty-handler.jar:/usr/share/java/netty-common.jar:/usr/share/java/netty-buffer.jar:/usr/share/java/netty-transport.jar:/usr/share/java/netty-transport-native-epoll.jar:/usr/share/java/netty-transport-native-unix-common.jar:/usr/share/java/metrics-core.jar:/usr/share/java/commons-cli.jar
case "${1:-}" in
  start)
    mkdir -p "$root"
    for i in 1 2 3; do
      dir="$root/zk-$i"; mkdir -p "$dir"; echo "$i" >"$dir/myid"
      cat >"$root/zk-$i.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$PWD/$dir
clientPort=$((2180 + i))
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=srvr,stat
server.1=127.0.0.1:2881:3881
server.2=127.0.0.1:2882:3882
server.3=127.0.0.1:2883:3883
CFG
      nohup java -Xmx512m -cp "$cp" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn org.apache.zookeeper.server.quorum.QuorumPeerMain "$root/zk-$i.cfg" >"$root/zk-$i.log" 2>&1 &
      echo $! >"$root/zk-$i.pid"
    done
    for attempt in $(seq 1 100); do
      for i in 1 2 3; do
        if echo srvr | timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$((2180 + i)); cat >&3; cat <&3" 2>/dev/null | grep -q "Mode: leader"; then echo "zookeeper ready (leader: server $i)"; exit 0; fi
      done
      sleep 0.2
    done
    echo "zookeeper not ready; see $root/*.log" >&2; exit 1 ;;
  stop)
    stop_pid_files "$root"/zk-*.pid ;;
  *)
    sed -n '2,6p' "$0"; exit 2 ;;
esac
