#!/usr/bin/env bash
# User-space instructions per echoed message, counted by callgrind: a
# figure that does not move with the machine's load, beside compare's CPU
# times. Each server runs under valgrind twice, for N and for 2N round trips
# of a 64-byte ping-pong over 50 connections (loadgen --msgs); the difference
# divided by N leaves out start-up, accepting and shutting down.
#
#   perf/instructions.sh [N] [servers...]    # N = 20000; nodenet tokio mio
#
# The RESP servers (mini_redis, mini_redis_straight: --write-per-reply,
# tokio_redis) are driven by `redis-benchmark -t get -c 50 -P 16 -n N`
# instead, and the figure is per request:
#
#   perf/instructions.sh 100000 mini_redis mini_redis_straight tokio_redis
#
# Needs valgrind (and redis-benchmark for those) and the release binaries
# (see perf/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-20000}
shift || true
SERVERS=("${@:-nodenet tokio mio}")
# shellcheck disable=SC2206
SERVERS=(${SERVERS[*]})
BIN=target/release
command -v valgrind >/dev/null || { echo "instructions.sh: valgrind is not installed" >&2; exit 2; }
for b in loadgen tokio_echo mio_echo tokio_redis examples/echo examples/mini_redis; do
  [ -x "$BIN/$b" ] || { echo "instructions.sh: $BIN/$b is missing; run: cargo build --release -p nodenet-perf --bins && cargo build --release --example echo --example mini_redis" >&2; exit 2; }
done

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"; jobs -p | xargs -r kill 2>/dev/null || true' EXIT

server_cmd() {
  case $1 in
    nodenet) echo "$BIN/examples/echo" ;;
    tokio) echo "$BIN/tokio_echo" ;;
    mio) echo "$BIN/mio_echo" ;;
    node) echo "node perf/peers/echo.js" ;;
    mini_redis) echo "$BIN/examples/mini_redis" ;;
    mini_redis_straight) echo "$BIN/examples/mini_redis --write-per-reply" ;;
    tokio_redis) echo "$BIN/tokio_redis" ;;
    *) echo "instructions.sh: unknown server $1 (nodenet, tokio, mio, node, mini_redis, mini_redis_straight, tokio_redis)" >&2; exit 2 ;;
  esac
}

# Prints the instructions one run of `msgs` round trips costs the server.
count() {
  local name=$1 msgs=$2 out="$WORK/$1.$2"
  local port=$((20000 + RANDOM % 20000))
  # shellcheck disable=SC2046
  valgrind --tool=callgrind --callgrind-out-file="$out.cg" $(server_cmd "$name") \
    --host 127.0.0.1 --port "$port" >"$out.log" 2>"$out.vg" &
  local pid=$!
  for _ in $(seq 100); do grep -q listening "$out.log" 2>/dev/null && break; sleep 0.1; done
  grep -q listening "$out.log" || { echo "instructions.sh: $name did not start" >&2; cat "$out.vg" >&2; exit 1; }
  case $name in
    *redis*)
      command -v redis-benchmark >/dev/null || { echo "instructions.sh: $name needs redis-benchmark (apt-get install redis-tools)" >&2; exit 2; }
      redis-benchmark -p "$port" -t get -c 50 -P 16 -n "$msgs" -q >/dev/null 2>&1 ;;
    *) "$BIN/loadgen" --port "$port" --mode pingpong --conns 50 --size 64 --msgs "$msgs" >/dev/null 2>&1 ;;
  esac
  kill -INT "$pid" 2>/dev/null || true
  sleep 0.5
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  grep -h '^summary:' "$out.cg"* | awk '{s += $2} END {print s}'
}

printf '%-20s %14s %14s %12s\n' server "Ir ($N)" "Ir ($((2 * N)))" "per message"
for s in "${SERVERS[@]}"; do
  one=$(count "$s" "$N")
  two=$(count "$s" $((2 * N)))
  printf '%-20s %14s %14s %12s\n' "$s" "$one" "$two" $(((two - one) / N))
done
