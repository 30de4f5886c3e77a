#!/usr/bin/env bash
# What `npm test` runs: build, typecheck and lint, then the mocha suites (unit, integration, e2e,
# faults) against a real Kafka and Redis on loopback. A Kafka this script starts is stopped again on
# exit; a Kafka or Redis that was already there is left alone.
#
#   npm test                      everything
#   npm test -- --grep window     extra arguments go to mocha
#   npm test -- test/unit/policy  a path among them replaces the default test folders
#
# Environment: RISK_STREAM_TEST_KAFKA (host:port of a broker to use instead of starting one),
# RISK_STREAM_TEST_REDIS (redis:// URL to use as is), RISK_STREAM_TEST_CHROMIUM (the browser for
# test/e2e/ui.test.ts; default /usr/bin/chromium, installed from Debian's packages when missing), plus
# what scripts/kafka.sh and scripts/redis.sh read.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

KAFKA_PORT=${KAFKA_PORT:-19092}
REDIS_PORT=${REDIS_PORT:-6379}
SUITE_DIRS=(test/unit test/integration test/e2e test/faults)

T_START=$SECONDS
TIMINGS=()
STARTED_KAFKA=''
STARTED_REDIS=''
RESULT_LINE=''

say() { echo "test: $*"; }

# phase NAME CMD...: runs CMD and records how long it took (finish records a phase that failed).
PHASE=''
PHASE_T0=0
timing() { TIMINGS+=("$(printf '%-20s %4d s' "$1" $((SECONDS - $2)))"); }
phase() {
  PHASE=$1
  PHASE_T0=$SECONDS
  shift
  say "== $PHASE"
  "$@"
  timing "$PHASE" "$PHASE_T0"
  PHASE=''
}

finish() {
  local rc=$?
  if [[ -n $PHASE ]]; then timing "$PHASE (failed)" "$PHASE_T0"; fi
  if [[ -n $STARTED_KAFKA ]]; then
    local t0=$SECONDS
    scripts/kafka.sh stop || true
    timing 'kafka stop' "$t0"
  fi
  if [[ -n $STARTED_REDIS ]]; then
    REDIS_PORT=$REDIS_PORT scripts/redis.sh stop-if-started || true
  fi
  say "== timings"
  local line
  for line in "${TIMINGS[@]}"; do say "  $line"; done
  timing total "$T_START"
  say "  ${TIMINGS[-1]}"
  if ((rc == 0)); then say "OK"; else say "FAILED (exit $rc)"; fi
  # Last, so that it is the closing line of the log.
  if [[ -n $RESULT_LINE ]]; then echo "$RESULT_LINE"; fi
  exit "$rc"
}
trap finish EXIT

# --- what to run (decided first, so a mistake in the arguments fails before any slow phase) --------------

# Default spec globs, one per suite folder that has test files; mocha fails on a glob that matches nothing.
shopt -s globstar nullglob
SPECS=()
for dir in "${SUITE_DIRS[@]}"; do
  found=("$dir"/**/*.test.ts)
  if ((${#found[@]} > 0)); then
    SPECS+=("$dir/**/*.test.ts")
  else
    say "no tests in $dir yet, skipping it"
  fi
done
shopt -u globstar nullglob
for arg in "$@"; do
  # A file or folder among the extra arguments means "run these", not "these as well".
  if [[ $arg != -* && -e $arg ]]; then
    SPECS=()
    break
  fi
done

# --- static checks -------------------------------------------------------------------------------------

# e2e tests run the compiled CLI (bin/risk-stream.js -> dist/), so build before anything runs.
phase build npm run --silent build
phase typecheck npm run --silent typecheck
phase lint npm run --silent lint
phase format npm run --silent format:check

# --- services ------------------------------------------------------------------------------------------

phase 'kafka fetch' scripts/kafka.sh fetch
# test/unit/deploy checks the alert rules with promtool: from the PATH, or Debian's package unpacked into .run/.
phase 'promtool fetch' scripts/promtool.sh

start_kafka() {
  if [[ -n ${RISK_STREAM_TEST_KAFKA:-} ]]; then
    if scripts/kafka.sh probe "$RISK_STREAM_TEST_KAFKA"; then
      say "using the broker at RISK_STREAM_TEST_KAFKA=$RISK_STREAM_TEST_KAFKA"
      return 0
    fi
    say "RISK_STREAM_TEST_KAFKA=$RISK_STREAM_TEST_KAFKA does not answer; starting a local broker instead"
  fi
  export RISK_STREAM_TEST_KAFKA=127.0.0.1:$KAFKA_PORT
  if scripts/kafka.sh probe "$RISK_STREAM_TEST_KAFKA"; then
    say "a broker already answers on $RISK_STREAM_TEST_KAFKA; using it and leaving it running"
    return 0
  fi
  STARTED_KAFKA=1
  KAFKA_PORT=$KAFKA_PORT scripts/kafka.sh start
}
phase 'kafka start' start_kafka

ensure_redis() {
  if [[ -n ${RISK_STREAM_TEST_REDIS:-} ]]; then
    say "using RISK_STREAM_TEST_REDIS=$RISK_STREAM_TEST_REDIS as given"
    return 0
  fi
  [[ -f ${REDIS_RUN_DIR:-.run/redis}/started-by-redis-sh-$REDIS_PORT ]] || STARTED_REDIS=1
  REDIS_PORT=$REDIS_PORT scripts/redis.sh ensure
  [[ -f ${REDIS_RUN_DIR:-.run/redis}/started-by-redis-sh-$REDIS_PORT ]] || STARTED_REDIS=''
  export RISK_STREAM_TEST_REDIS=redis://127.0.0.1:$REDIS_PORT
}
phase redis ensure_redis

# The browser test (test/e2e/ui.test.ts) drives Debian's chromium through playwright-core; it is
# installed when missing, and only when that test is going to run.
needs_browser() {
  ((${#SPECS[@]} > 0)) && return 0
  local arg
  for arg in "$@"; do
    arg=${arg#./}
    if [[ $arg != -* && -e $arg && test/e2e/ui.test.ts == "$arg"* ]]; then return 0; fi
  done
  return 1
}
ensure_chromium() {
  local bin=${RISK_STREAM_TEST_CHROMIUM:-/usr/bin/chromium}
  if [[ -x $bin ]]; then
    say "chromium: $bin"
  elif [[ -n ${RISK_STREAM_TEST_CHROMIUM:-} ]]; then
    say "RISK_STREAM_TEST_CHROMIUM=$bin is not an executable"
    return 1
  else
    say "chromium not found; installing the Debian package"
    local -a sudo=()
    if ((EUID != 0)); then
      command -v sudo >/dev/null || {
        say "not root and no sudo: install chromium yourself (apt-get install chromium)"
        return 1
      }
      # No terminal (CI): never wait for a password prompt.
      if [[ -t 0 ]]; then sudo=(sudo); else sudo=(sudo -n); fi
    fi
    local -a apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -qq)
    # A fresh image may have no package lists yet: update only when the install cannot find it.
    "${apt[@]}" install -y --no-install-recommends chromium >/dev/null ||
      { "${apt[@]}" update && "${apt[@]}" install -y --no-install-recommends chromium >/dev/null; }
    [[ -x $bin ]] || {
      say "apt-get installed chromium but there is no $bin"
      return 1
    }
  fi
  export RISK_STREAM_TEST_CHROMIUM=$bin
}
if needs_browser "$@"; then phase chromium ensure_chromium; fi

# --- tests ---------------------------------------------------------------------------------------------

export RISK_STREAM_TEST_KAFKA RISK_STREAM_TEST_REDIS
export KAFKAJS_NO_PARTITIONER_WARNING=1

run_mocha() {
  if ((${#SPECS[@]} == 0 && $# == 0)); then
    say "no test files under ${SUITE_DIRS[*]}; nothing to run"
    return 0
  fi
  local -a color=()
  if [[ -t 1 ]]; then color=(--color); else color=(--no-color); fi
  local out=.run/mocha-output.txt rc=0
  mkdir -p .run
  say "mocha ${SPECS[*]} $*"
  npx mocha "${color[@]}" "${SPECS[@]}" "$@" 2>&1 | tee "$out" || rc=$?
  # Mocha's "N passing / N failing / N pending" become one plain "N passed, N failed, N skipped" line
  # (printed last by finish) that CI log readers know; none when mocha died before its summary.
  local clean passed failed pending
  clean=$(sed 's/\x1b\[[0-9;]*m//g' "$out")
  passed=$(grep -Eo '^ *[0-9]+ passing' <<<"$clean" | grep -Eo '[0-9]+' | tail -n1 || true)
  failed=$(grep -Eo '^ *[0-9]+ failing' <<<"$clean" | grep -Eo '[0-9]+' | tail -n1 || true)
  pending=$(grep -Eo '^ *[0-9]+ pending' <<<"$clean" | grep -Eo '[0-9]+' | tail -n1 || true)
  if [[ -n $passed || -n $failed ]]; then
    RESULT_LINE="mocha: ${passed:-0} passed, ${failed:-0} failed, ${pending:-0} skipped"
  fi
  return "$rc"
}
phase mocha run_mocha "$@"
