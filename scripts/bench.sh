#!/usr/bin/env bash
# What `npm run bench` runs: build if dist/ is stale, make sure Kafka and Redis answer, then
# scripts/bench.ts (end-to-end throughput and latency, passthrough baseline vs engine).
# A Kafka (or Redis) this script starts is stopped again on exit, Ctrl-C included; one that was
# already running is left alone.
#
#   npm run bench                                   200k events, 3 partitions, 30 s latency phase
#   npm run bench -- --events 50000 --latency-seconds 10
#   npm run bench -- --help                         every option
#
# Environment: RISK_STREAM_BENCH_KAFKA (host:port of a broker to use instead of the local one),
# RISK_STREAM_BENCH_REDIS (redis:// URL used as is), plus what scripts/kafka.sh and scripts/redis.sh read.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

KAFKA_PORT=${KAFKA_PORT:-19092}
REDIS_PORT=${REDIS_PORT:-6379}
STARTED_KAFKA=''
STARTED_REDIS=''

say() { echo "bench: $*"; }

finish() {
  local rc=$?
  if [[ -n $STARTED_KAFKA ]]; then KAFKA_PORT=$KAFKA_PORT scripts/kafka.sh stop || true; fi
  if [[ -n $STARTED_REDIS ]]; then REDIS_PORT=$REDIS_PORT scripts/redis.sh stop-if-started || true; fi
  exit "$rc"
}
trap finish EXIT
# bash runs these after the foreground child (which cleans up its topics on SIGINT) has exited.
trap 'exit 130' INT
trap 'exit 143' TERM

# --help needs neither a build nor the services.
for arg in "$@"; do
  if [[ $arg == -h || $arg == --help ]]; then
    exec npx tsx "${BENCH_SCRIPT:-scripts/bench.ts}" "$@"
  fi
done

# Newest compiled file older than the newest source file (or no dist at all): rebuild.
newest() { find "$@" -type f -printf '%T@\n' 2>/dev/null | sort -n | tail -n1; }
src_time=$(newest src tsconfig.json tsconfig.build.json)
dist_time=$(newest dist/src)
if [[ -z $dist_time ]] || awk -v s="$src_time" -v d="$dist_time" 'BEGIN { exit !(s > d) }'; then
  say "dist/ missing or older than src/: npm run build"
  npm run --silent build
fi

scripts/kafka.sh fetch
if [[ -n ${RISK_STREAM_BENCH_KAFKA:-} ]]; then
  scripts/kafka.sh probe "$RISK_STREAM_BENCH_KAFKA" ||
    {
      echo "bench: RISK_STREAM_BENCH_KAFKA=$RISK_STREAM_BENCH_KAFKA does not answer" >&2
      exit 1
    }
  say "using the broker at RISK_STREAM_BENCH_KAFKA=$RISK_STREAM_BENCH_KAFKA"
else
  export RISK_STREAM_BENCH_KAFKA=127.0.0.1:$KAFKA_PORT
  if KAFKA_PORT=$KAFKA_PORT scripts/kafka.sh status; then
    say "using the running broker; leaving it running"
  else
    STARTED_KAFKA=1
    KAFKA_PORT=$KAFKA_PORT scripts/kafka.sh start
  fi
fi

if [[ -z ${RISK_STREAM_BENCH_REDIS:-} ]]; then
  marker=${REDIS_RUN_DIR:-.run/redis}/started-by-redis-sh-$REDIS_PORT
  [[ -f $marker ]] || STARTED_REDIS=1
  REDIS_PORT=$REDIS_PORT scripts/redis.sh ensure
  [[ -f $marker ]] || STARTED_REDIS=''
  export RISK_STREAM_BENCH_REDIS=redis://127.0.0.1:$REDIS_PORT
fi

export KAFKAJS_NO_PARTITIONER_WARNING=1
# Not exec: the EXIT trap must still run to stop a Kafka started above.
npx tsx "${BENCH_SCRIPT:-scripts/bench.ts}" "$@"
