# Sourced by the cluster scripts (cluster.sh, etcd-cluster.sh, zookeeper-cluster.sh).

# Stops the process named by each pid file given (SIGTERM: silos hand leadership over first) and removes the files.
stop_pid_files() {
  local pid_file
  for pid_file in "$@"; do
    [ -f "$pid_file" ] || continue
    kill "$(cat "$pid_file")" 2>/dev/null || true
    rm -f "$pid_file"
  done
  echo "stopped"
}
