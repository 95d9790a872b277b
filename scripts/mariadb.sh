#!/usr/bin/env bash
# Starts or stops a throwaway MariaDB on loopback, for the @idemkit/mysql tests: its own data directory,
# port and socket, so a system MariaDB (port 3306) is left alone. Installs Debian's mariadb-server when
# no server binary is found. Idempotent; prints one line.
#
#   scripts/mariadb.sh start    # does nothing when it already answers
#   scripts/mariadb.sh stop     # shuts it down and removes its data
#   scripts/mariadb.sh status
#
# Environment:
#   MARIADB_PORT  TCP port on 127.0.0.1 (default 3307)
#   MARIADB_DIR   data, socket, pid and log (default ${TMPDIR:-/tmp}/idemkit-mariadb)
# The tests then read MYSQL_URL=mysql://root@127.0.0.1:3307/test (their default): root, no password.
set -euo pipefail

PORT="${MARIADB_PORT:-3307}"
DIR="${MARIADB_DIR:-${TMPDIR:-/tmp}/idemkit-mariadb}"
DATA="$DIR/data"
SOCKET="$DIR/mariadb.sock"
LOG="$DIR/mariadb.log"
PIDFILE="$DIR/mariadb.pid"
URL="mysql://root@127.0.0.1:${PORT}/test"

# A binary by its MariaDB name or its older MySQL-compatible one, on PATH or in /usr/sbin.
find_bin() {
  for name in "$@"; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    if [ -x "/usr/sbin/$name" ]; then echo "/usr/sbin/$name"; return 0; fi
  done
  return 1
}

server_bin() {
  local bin
  if bin=$(find_bin mariadbd); then echo "$bin"; return 0; fi
  # Debian's mysqld is MariaDB's; Oracle's MySQL initialises differently and is not handled here.
  if bin=$(find_bin mysqld) && "$bin" --version 2>/dev/null | grep -qi mariadb; then echo "$bin"; return 0; fi
  return 1
}

install_server() {
  if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "mariadb.sh: no MariaDB server found and this user cannot install packages (not root, no sudo)" >&2
    exit 1
  fi
  as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  local log
  log=$(mktemp)
  export DEBIAN_FRONTEND=noninteractive
  # The package may start the system's own service (port 3306); this script's instance is separate.
  if ! { as_root apt-get update -qq &&
    as_root apt-get install -y -qq --no-install-recommends mariadb-server; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "mariadb.sh: could not install Debian's mariadb-server package" >&2
    exit 1
  fi
  rm -f "$log"
}

# A live process (a killed one that nobody reaped yet is a zombie: not running).
running() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }

client() { "$(find_bin mariadb mysql)" --no-defaults --connect-timeout=5 --protocol=tcp -h 127.0.0.1 -P "$PORT" -u root "$@"; }
answers() { client -N -e "SELECT 1" test >/dev/null 2>&1; }
version() { client -N -e "SELECT VERSION()" 2>/dev/null; }

start() {
  if answers; then echo "MariaDB $(version) already answers at $URL"; return; fi
  local bin
  bin=$(server_bin) || { install_server; bin=$(server_bin); } || {
    echo "mariadb.sh: no MariaDB server binary after installing mariadb-server" >&2
    exit 1
  }
  # Ours, but not answering yet: still starting (crash recovery after a kill, a loaded machine). Wait for
  # it as for a server started here, rather than start a second one on the same files.
  if [ -f "$PIDFILE" ] && running "$(cat "$PIDFILE")"; then
    for _ in $(seq 150); do answers && break; sleep 0.2; done
    answers || { echo "mariadb.sh: a server from $DIR is running but does not answer on port $PORT; see $LOG" >&2; exit 1; }
    echo "MariaDB $(version) answers at $URL (it was still starting)"
    return
  fi
  # A data directory from an earlier, unfinished start is made again from nothing.
  if [ ! -d "$DATA/mysql" ]; then
    rm -rf "$DIR"
    mkdir -p "$DATA"
    local install_log="$DIR/install-db.log"
    if ! "$(find_bin mariadb-install-db mysql_install_db)" --no-defaults --datadir="$DATA" \
      --auth-root-authentication-method=normal --skip-test-db --user="$(id -un)" >"$install_log" 2>&1; then
      cat "$install_log" >&2
      echo "mariadb.sh: mariadb-install-db failed" >&2
      exit 1
    fi
  fi
  local user=()
  if [ "$(id -u)" -eq 0 ]; then user=(--user=root); fi
  # --no-defaults: none of the system's my.cnf (its port, socket and data directory are the system
  # server's). max_allowed_packet fits the several-MiB outcomes the store writes.
  setsid "$bin" --no-defaults "${user[@]}" --datadir="$DATA" --socket="$SOCKET" --pid-file="$PIDFILE" \
    --log-error="$LOG" --port="$PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --max-allowed-packet=64M --innodb-buffer-pool-size=128M --performance-schema=OFF \
    </dev/null >/dev/null 2>&1 &
  for _ in $(seq 150); do
    answers && break
    # Root can log in over the socket only until root@127.0.0.1 exists: make it, and the database.
    "$(find_bin mariadb mysql)" --no-defaults -S "$SOCKET" -u root -e \
      "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
       CREATE DATABASE IF NOT EXISTS test;" >/dev/null 2>&1 || true
    sleep 0.2
  done
  answers || { echo "mariadb.sh: MariaDB did not start on port $PORT; see $LOG" >&2; exit 1; }
  echo "MariaDB $(version) started at $URL (data in $DATA)"
}

stop() {
  if [ -f "$PIDFILE" ]; then
    local pid
    pid=$(cat "$PIDFILE")
    running "$pid" && kill "$pid" 2>/dev/null
    for _ in $(seq 150); do running "$pid" || break; sleep 0.2; done
    if running "$pid"; then echo "mariadb.sh: MariaDB ($pid) did not stop" >&2; exit 1; fi
  fi
  rm -rf "$DIR"
  echo "MariaDB on port $PORT stopped (data in $DIR removed)"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if answers; then echo "MariaDB $(version) answers at $URL"; else echo "MariaDB on port $PORT is not running"; exit 1; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
