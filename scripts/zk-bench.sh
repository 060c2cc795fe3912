#!/usr/bin/env bash
# Compiles and runs the load tool's ZooKeeper twin (tools/zk-bench/ZkBench.java) against
# scripts/zookeeper-cluster.sh, with Debian's ZooKeeper client jars. Arguments go to the tool:
#   scripts/zk-bench.sh --seconds 5 --clients 1,64 --workloads config-put,get-linearizable,get-stale,lock-cycle,lock-contended,lock-contended-txn,watch-latency
set -euo pipefail
cd "$(dirname "$0")/.."
cp=/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar
classes=$(mktemp -d)
trap 'rm -rf "$classes"' EXIT
javac -d "$classes" -cp "$cp" tools/zk-bench/ZkBench.java
java -cp "$classes:$cp" ZkBench "$@"
