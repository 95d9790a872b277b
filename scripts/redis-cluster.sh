#!/usr/bin/env bash
# Starts or stops a throwaway Redis Cluster of masters on loopback, for the @idemkit/redis tests.
#
#   scripts/redis-cluster.sh start    # idempotent: does nothing when the cluster is already up
#   scripts/redis-cluster.sh stop     # idempotent: shuts the nodes down and removes their data
#   scripts/redis-cluster.sh status
#
# Environment:
#   REDIS_CLUSTER_PORTS  space-separated ports, one master each (default "7000 7001 7002")
#   REDIS_CLUSTER_HOST   bind address (default 127.0.0.1)
#   REDIS_CLUSTER_DIR    data, logs and nodes.conf (default ${TMPDIR:-/tmp}/idemkit-redis-cluster)
# The tests then read REDIS_CLUSTER_NODES=127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002.
set -euo pipefail

PORTS=(${REDIS_CLUSTER_PORTS:-7000 7001 7002})
HOST="${REDIS_CLUSTER_HOST:-127.0.0.1}"
DIR="${REDIS_CLUSTER_DIR:-${TMPDIR:-/tmp}/idemkit-redis-cluster}"

cli() { local port="$1"; shift; redis-cli -h "$HOST" -p "$port" "$@"; }
up() { [ "$(cli "$1" ping 2>/dev/null)" = "PONG" ]; }
state_ok() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | grep -q '^cluster_state:ok$'; }
known_nodes() { cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_known_nodes://p'; }

healthy() {
  for port in "${PORTS[@]}"; do
    up "$port" && state_ok "$port" && [ "$(known_nodes "$port")" = "${#PORTS[@]}" ] || return 1
  done
}

print_nodes() {
  echo "Redis Cluster on ${HOST}, ports ${PORTS[*]}:"
  cli "${PORTS[0]}" cluster nodes
  echo "REDIS_CLUSTER_NODES=$(printf "${HOST}:%s," "${PORTS[@]}" | sed 's/,$//')"
}

stop() {
  for port in "${PORTS[@]}"; do
    if up "$port"; then cli "$port" shutdown nosave >/dev/null 2>&1 || true; fi
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 50); do up "$port" || break; sleep 0.1; done
    if up "$port"; then echo "redis on port $port did not stop" >&2; exit 1; fi
  done
  rm -rf "$DIR"
}

start() {
  if healthy; then print_nodes; return; fi
  for port in "${PORTS[@]}"; do
    if up "$port" && ! cli "$port" cluster info >/dev/null 2>&1; then
      echo "port $port is taken by a Redis without cluster support; pick other REDIS_CLUSTER_PORTS" >&2
      exit 1
    fi
  done
  # A half-built or stale cluster: start again from nothing.
  stop
  mkdir -p "$DIR"
  for port in "${PORTS[@]}"; do
    redis-server --port "$port" --bind "$HOST" --daemonize yes --save '' --appendonly no \
      --cluster-enabled yes --cluster-config-file "nodes-$port.conf" --cluster-node-timeout 5000 \
      --dir "$DIR" --pidfile "$DIR/redis-$port.pid" --logfile "$DIR/redis-$port.log"
  done
  for port in "${PORTS[@]}"; do
    for _ in $(seq 50); do up "$port" && break; sleep 0.1; done
    up "$port" || { echo "redis on port $port did not start; see $DIR/redis-$port.log" >&2; exit 1; }
  done
  redis-cli --cluster create $(printf "${HOST}:%s " "${PORTS[@]}") --cluster-replicas 0 --cluster-yes >/dev/null
  for _ in $(seq 100); do healthy && break; sleep 0.2; done
  healthy || { echo "cluster did not reach cluster_state:ok" >&2; exit 1; }
  print_nodes
}

case "${1:-}" in
  start) start ;;
  stop) stop; echo "Redis Cluster on ports ${PORTS[*]} stopped" ;;
  status) if healthy; then print_nodes; else echo "Redis Cluster on ports ${PORTS[*]} is not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
