#!/usr/bin/env bash
# Runs a throwaway single-node Kafka (KRaft, broker+controller, loopback only) for tests and local runs,
# without Docker or a Kafka tarball: Maven fetches the broker jars (pom.xml) and we start kafka.Kafka
# with plain `java -cp`.
#
#   scripts/kafka.sh fetch            jars into $KAFKA_CACHE_DIR/libs (skipped when already there)
#   scripts/kafka.sh start            format storage once, start the broker, wait until it answers
#   scripts/kafka.sh stop             TERM the broker we started (KILL after $KAFKA_STOP_TIMEOUT s)
#   scripts/kafka.sh status           exit 0 when the broker is running and answers metadata requests
#   scripts/kafka.sh wait             wait (up to $KAFKA_START_TIMEOUT s) until it answers
#   scripts/kafka.sh probe [BROKERS]  exit 0 when any Kafka answers at BROKERS (host:port,...)
#
# Environment (defaults): KAFKA_CACHE_DIR (.cache/kafka), KAFKA_RUN_DIR (.run/kafka),
# KAFKA_PORT (19092), KAFKA_CONTROLLER_PORT (19093), KAFKA_HEAP_OPTS (-Xms256m -Xmx768m),
# KAFKA_START_TIMEOUT (90), KAFKA_STOP_TIMEOUT (30).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
POM=$ROOT/pom.xml
CACHE_DIR=${KAFKA_CACHE_DIR:-$ROOT/.cache/kafka}
LIBS=$CACHE_DIR/libs
MARKER=$LIBS/.fetched
RUN_DIR=${KAFKA_RUN_DIR:-$ROOT/.run/kafka}
PID_FILE=$RUN_DIR/kafka.pid
LOG_DIR=$RUN_DIR/logs
SERVER_LOG=$LOG_DIR/server.log
PORT=${KAFKA_PORT:-19092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
BOOTSTRAP=127.0.0.1:$PORT

say() { echo "kafka: $*"; }
die() {
  echo "kafka: ERROR: $*" >&2
  exit 1
}

# The version lives in pom.xml only; the marker records it plus the pom's hash so any pom change refetches.
kafka_version() { sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1; }
fetch_stamp() { echo "kafka=$(kafka_version) pom=$(sha256sum "$POM" | cut -c1-16)"; }

cmd_fetch() {
  local stamp
  stamp=$(fetch_stamp)
  if [[ -f $MARKER && "$(cat "$MARKER")" == "$stamp" ]]; then
    say "libs for $(kafka_version) already in $LIBS"
    return 0
  fi
  command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
  # Jars of another version left on the classpath would mix two Kafkas: start clean.
  rm -rf "$LIBS"
  mkdir -p "$LIBS"
  say "fetching kafka $(kafka_version) jars with maven into $LIBS"
  local t0=$SECONDS log=$CACHE_DIR/fetch.log
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
    -Dkafka.libs.dir="$LIBS" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    die "maven fetch failed (full log: $log)"
  fi
  [[ -f $LIBS/kafka_2.13-$(kafka_version).jar ]] || die "maven ran but $LIBS has no kafka_2.13 jar"
  echo "$stamp" >"$MARKER"
  say "fetched $(find "$LIBS" -name '*.jar' | wc -l) jars in $((SECONDS - t0)) s"
}

# --- process helpers -------------------------------------------------------------------------------

# Prints the pid from the pid file when that process is alive and really is our broker (pids get reused).
live_pid() {
  [[ -f $PID_FILE ]] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
  echo "$pid"
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# A metadata round trip, not just an open port. kafkajs when node_modules has it (fast), else the
# Java BrokerApiVersionsCommand shipped in the broker jars (a JVM start, ~2 s).
PROBE_JS='
const { Kafka, logLevel } = require(process.env.KAFKAJS_PATH);
const kafka = new Kafka({
  clientId: "kafka-sh-probe", brokers: process.argv[1].split(","), logLevel: logLevel.NOTHING,
  connectionTimeout: 2000, requestTimeout: 5000, retry: { retries: 0 },
});
const admin = kafka.admin();
admin.connect()
  .then(() => admin.describeCluster())
  .then((c) => admin.disconnect().then(() => process.exit(c.brokers.length > 0 ? 0 : 1)))
  .catch(() => process.exit(1));
'
kafkajs_path() { node -p "require.resolve('kafkajs', { paths: [process.argv[1]] })" "$ROOT" 2>/dev/null; }

probe() {
  local brokers=${1:-$BOOTSTRAP} kjs
  if command -v node >/dev/null && kjs=$(kafkajs_path); then
    KAFKAJS_PATH=$kjs timeout 15 node -e "$PROBE_JS" "$brokers" >/dev/null 2>&1
  elif [[ -f $MARKER ]] && command -v java >/dev/null; then
    timeout 20 java -Xmx128m -Dlog4j.configuration=file:/dev/null -cp "$LIBS/*" \
      kafka.admin.BrokerApiVersionsCommand --bootstrap-server "$brokers" >/dev/null 2>&1
  else
    local hp=${brokers%%,*}
    port_open "${hp##*:}"
  fi
}

log_says_started() { [[ -f $SERVER_LOG ]] && grep -q 'Kafka Server started' "$SERVER_LOG"; }

fail_with_log() {
  echo "kafka: ---- last lines of $SERVER_LOG ----" >&2
  tail -n 40 "$SERVER_LOG" >&2 2>/dev/null || true
  tail -n 20 "$RUN_DIR/stdout.log" >&2 2>/dev/null || true
  die "$*"
}

# Waits until the broker answers: wait_ready [PID [fresh]]. With a pid it fails fast if that process dies;
# after a fresh start it also needs the "Kafka Server started" line (an open port comes earlier).
wait_ready() {
  local pid=${1:-} fresh=${2:-} deadline=$((SECONDS + START_TIMEOUT))
  while ((SECONDS < deadline)); do
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$PID_FILE"
      fail_with_log "broker process $pid exited during start-up"
    fi
    if { [[ -z $fresh ]] || log_says_started; } && probe "$BOOTSTRAP"; then
      return 0
    fi
    sleep 0.5
  done
  return 1
}

# --- configuration ---------------------------------------------------------------------------------

write_config() {
  mkdir -p "$RUN_DIR/data" "$LOG_DIR"
  cat >"$RUN_DIR/server.properties" <<EOF
# Written by scripts/kafka.sh on every start: a single-node KRaft broker+controller for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$RUN_DIR/data

# One node: every replication factor and ISR is 1.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
default.replication.factor=1
min.insync.replicas=1
# Few internal partitions: 50 offsets partitions make the first group join slow on 2 cores.
offsets.topic.num.partitions=3
transaction.state.log.num.partitions=3

# Tests create topics on the fly and join groups quickly.
auto.create.topics.enable=true
delete.topic.enable=true
num.partitions=3
group.initial.rebalance.delay.ms=0

# Small and short-lived data: tests never need more than minutes of history.
log.segment.bytes=16777216
log.retention.ms=3600000
log.retention.bytes=268435456
log.retention.check.interval.ms=60000
log.cleaner.dedupe.buffer.size=8388608
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
  cat >"$RUN_DIR/log4j.properties" <<'EOF'
# Written by scripts/kafka.sh: broker logs go to files under ${kafka.logs.dir}, never the console.
log4j.rootLogger=INFO, serverAppender
log4j.appender.serverAppender=org.apache.log4j.RollingFileAppender
log4j.appender.serverAppender.File=${kafka.logs.dir}/server.log
log4j.appender.serverAppender.MaxFileSize=10MB
log4j.appender.serverAppender.MaxBackupIndex=2
log4j.appender.serverAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.serverAppender.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.org.apache.kafka.controller=INFO
log4j.logger.kafka.log.LogCleaner=WARN
log4j.logger.state.change.logger=WARN
EOF
}

JAVA_LOG_OPTS=("-Dlog4j.configuration=file:$RUN_DIR/log4j.properties" "-Dkafka.logs.dir=$LOG_DIR")

format_storage_once() {
  if [[ -f $RUN_DIR/data/meta.properties ]]; then
    return 0
  fi
  local cid
  cid=$(java "${JAVA_LOG_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid)
  echo "$cid" >"$RUN_DIR/cluster.id"
  say "formatting new storage in $RUN_DIR/data (cluster id $cid)"
  java "${JAVA_LOG_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
    -t "$cid" -c "$RUN_DIR/server.properties" >"$LOG_DIR/format.log" 2>&1 ||
    fail_with_log "storage format failed: $(cat "$LOG_DIR/format.log")"
}

# --- commands --------------------------------------------------------------------------------------

cmd_start() {
  local pid t0=$SECONDS
  if pid=$(live_pid); then
    if wait_ready "$pid"; then
      say "already running (pid $pid) on $BOOTSTRAP"
      return 0
    fi
    fail_with_log "pid $pid is alive but the broker does not answer on $BOOTSTRAP"
  fi
  rm -f "$PID_FILE"
  if port_open "$PORT"; then
    if probe "$BOOTSTRAP"; then
      say "a broker not started by this script already answers on $BOOTSTRAP; using it"
      return 0
    fi
    die "port $PORT is taken by something that is not a Kafka broker (set KAFKA_PORT)"
  fi
  port_open "$CONTROLLER_PORT" && die "controller port $CONTROLLER_PORT is taken (set KAFKA_CONTROLLER_PORT)"
  command -v java >/dev/null || die "java not found (apt-get install -y openjdk-17-jre-headless)"

  cmd_fetch
  write_config
  format_storage_once
  : >"$SERVER_LOG"

  say "starting broker on $BOOTSTRAP (controller 127.0.0.1:$CONTROLLER_PORT, heap: $HEAP_OPTS)"
  # setsid: own session, so the broker outlives this shell and a Ctrl-C in the test run.
  # The inner bash writes its own pid and then execs java, so the pid file holds the JVM's pid.
  # HEAP_OPTS is unquoted on purpose: it holds several JVM flags.
  # shellcheck disable=SC2016,SC2086 # $$ and "$@" expand in the inner shell
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" \
    java $HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true "${JAVA_LOG_OPTS[@]}" \
    -cp "$LIBS/*" kafka.Kafka "$RUN_DIR/server.properties" \
    >"$RUN_DIR/stdout.log" 2>&1 </dev/null &
  local _
  for _ in $(seq 50); do
    [[ -s $PID_FILE ]] && break
    sleep 0.1
  done
  pid=$(cat "$PID_FILE" 2>/dev/null) || die "broker did not write $PID_FILE"

  if ! wait_ready "$pid" fresh; then
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$PID_FILE"
    fail_with_log "broker did not answer on $BOOTSTRAP within ${START_TIMEOUT} s (killed pid $pid)"
  fi
  say "ready on $BOOTSTRAP (pid $pid) after $((SECONDS - t0)) s; logs in $LOG_DIR"
}

cmd_stop() {
  local pid
  if ! pid=$(live_pid); then
    rm -f "$PID_FILE"
    say "not running"
    return 0
  fi
  say "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "still alive after ${STOP_TIMEOUT} s, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  say "stopped"
}

cmd_status() {
  local pid
  if pid=$(live_pid); then
    if probe "$BOOTSTRAP"; then
      say "running (pid $pid) and answering on $BOOTSTRAP"
      return 0
    fi
    say "pid $pid is alive but not answering on $BOOTSTRAP"
    return 1
  fi
  if probe "$BOOTSTRAP"; then
    say "a broker not started by this script answers on $BOOTSTRAP"
    return 0
  fi
  say "not running"
  return 1
}

cmd_wait() {
  local pid=''
  pid=$(live_pid) || pid=''
  say "waiting up to ${START_TIMEOUT} s for $BOOTSTRAP"
  wait_ready "$pid" || fail_with_log "no broker answered on $BOOTSTRAP within ${START_TIMEOUT} s"
  say "answering on $BOOTSTRAP"
}

cmd_probe() {
  probe "${1:-$BOOTSTRAP}"
}

case "${1:-}" in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  wait) cmd_wait ;;
  probe) cmd_probe "${2:-}" ;;
  *)
    echo "usage: $0 fetch|start|stop|status|wait|probe [host:port,...]" >&2
    exit 2
    ;;
esac
