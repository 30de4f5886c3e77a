#!/usr/bin/env bash
# Makes sure a Redis answers on 127.0.0.1:$REDIS_PORT for tests and local runs.
#
#   scripts/redis.sh ensure           PING; if nothing answers, install redis-server (apt) when missing
#                                     and start a throwaway one (no persistence) in $REDIS_RUN_DIR
#   scripts/redis.sh stop-if-started  stop the server only if `ensure` started it (marker file)
#
# Environment (defaults): REDIS_PORT (6379), REDIS_RUN_DIR (.run/redis), REDIS_START_TIMEOUT (20).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PORT=${REDIS_PORT:-6379}
RUN_DIR=${REDIS_RUN_DIR:-$ROOT/.run/redis}
PID_FILE=$RUN_DIR/redis-$PORT.pid
# Present only while a server started by this script runs: holds "<pid> <port>".
MARKER=$RUN_DIR/started-by-redis-sh-$PORT
START_TIMEOUT=${REDIS_START_TIMEOUT:-20}

say() { echo "redis: $*"; }
die() {
  echo "redis: ERROR: $*" >&2
  exit 1
}

ping_redis() {
  if command -v redis-cli >/dev/null; then
    [[ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" == PONG ]]
  else
    # No client installed: speak RESP by hand over bash's /dev/tcp.
    # shellcheck disable=SC2016 # $reply expands in the inner shell
    timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" && printf "PING\r\n" >&3 && read -r reply <&3 &&
      [[ $reply == +PONG* ]]' "$PORT" 2>/dev/null
  fi
}

install_redis() {
  say "redis-server not found; installing the Debian package"
  local -a sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "not root and no sudo: install redis-server yourself"
    # No terminal (CI): never wait for a password prompt.
    if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  command -v redis-server >/dev/null || die "apt-get installed redis-server but it is not on PATH"
}

cmd_ensure() {
  if ping_redis; then
    say "answering on 127.0.0.1:$PORT"
    return 0
  fi
  command -v redis-server >/dev/null || install_redis
  # The package's own service may have come up on the default port during the install.
  if ping_redis; then
    say "answering on 127.0.0.1:$PORT"
    return 0
  fi
  mkdir -p "$RUN_DIR"
  say "starting redis-server on 127.0.0.1:$PORT (no persistence, logs in $RUN_DIR/redis-$PORT.log)"
  rm -f "$PID_FILE"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$PORT" --save "" --appendonly no \
    --dir "$RUN_DIR" --logfile "$RUN_DIR/redis-$PORT.log" --pidfile "$PID_FILE" ||
    die "redis-server failed to start (see $RUN_DIR/redis-$PORT.log)"
  local deadline=$((SECONDS + START_TIMEOUT))
  until ping_redis; do
    if ((SECONDS >= deadline)); then
      tail -n 20 "$RUN_DIR/redis-$PORT.log" >&2 || true
      die "redis did not answer on 127.0.0.1:$PORT within ${START_TIMEOUT} s"
    fi
    sleep 0.2
  done
  # --daemonize writes the pid file just after it starts listening; give it a moment.
  until [[ -s $PID_FILE ]] || ((SECONDS >= deadline)); do sleep 0.1; done
  echo "$(cat "$PID_FILE") $PORT" >"$MARKER"
  say "started (pid $(cat "$PID_FILE"))"
}

cmd_stop_if_started() {
  if [[ ! -f $MARKER ]]; then
    say "not started by this script; leaving it alone"
    return 0
  fi
  local pid port
  read -r pid port <"$MARKER"
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server; then
    say "stopping pid $pid (port $port)"
    kill -TERM "$pid"
    local deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
  fi
  rm -f "$MARKER" "$PID_FILE"
  say "stopped"
}

case "${1:-}" in
  ensure) cmd_ensure ;;
  stop-if-started) cmd_stop_if_started ;;
  *)
    echo "usage: $0 ensure|stop-if-started" >&2
    exit 2
    ;;
esac
