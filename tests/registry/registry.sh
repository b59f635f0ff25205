#!/usr/bin/env bash
# sensorgate: run a local Schema Registry for learners and developers:
# Apicurio Registry 2.6 (downloaded by tests/registry/fetch.sh from Maven
# Central) as a plain `java -jar` process on 127.0.0.1, no docker.  Its
# Confluent-compatible API is http://127.0.0.1:PORT/apis/ccompat/v7.
#
#   registry.sh start [--port P] [--dir D]   start it, wait until it answers
#   registry.sh stop [--dir D] [--clean]     stop it (--clean: delete D too)
#   registry.sh status [--dir D]             exit 0 when it runs
#
# D defaults to ${SENSORGATE_CACHE:-$HOME/.cache/sensorgate}/registry-local
# and holds: pid, port, registry.log, and db/ (the H2 database with the
# schemas, so a restart keeps subjects, versions and ids).  P defaults to
# 8080.  start is idempotent: a registry already running from D on P is
# left as it is.  The start command line (heap, JIT and GC options, the H2
# file) is the one tests/lib/registry.py uses.  make registry-up,
# registry-down and registry-status (tests/registry/registry.mk) call this.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SENSORGATE_CACHE:-$HOME/.cache/sensorgate}
DIR=$CACHE/registry-local
PORT=8080
CLEAN=0
HOST=127.0.0.1
START_TIMEOUT=${REGISTRY_START_TIMEOUT:-120}
JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java

say() { printf 'registry: %s\n' "$*"; }
die() { printf 'registry: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; }

cmd=${1:-}
[ -n "$cmd" ] || { usage >&2; exit 2; }
shift
while [ $# -gt 0 ]; do
    case "$1" in
        --port) PORT=${2:?--port needs a value}; shift ;;
        --port=*) PORT=${1#--port=} ;;
        --dir) DIR=${2:?--dir needs a value}; shift ;;
        --dir=*) DIR=${1#--dir=} ;;
        --clean) CLEAN=1 ;;
        -h|--help) usage; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
case "$PORT" in ''|*[!0-9]*) die "--port must be a number, not '$PORT'" ;; esac

# The pid of the registry started from DIR, if that process still runs
# and is an Apicurio Registry (a pid file outlives a reboot; its number
# may belong to something else by now).
running_pid() {
    local pid
    [ -f "$DIR/pid" ] || return 1
    pid=$(cat "$DIR/pid")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q apicurio-registry-app || return 1
    echo "$pid"
}

url_of() { echo "http://$HOST:$1"; }

answers() {  # answers PORT: the Confluent API lists its subjects
    curl -sf -o /dev/null --max-time 2 "$(url_of "$1")/apis/ccompat/v7/subjects"
}

port_in_use() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

stop_pid() {  # stop_pid PID: SIGTERM, up to 30 s, then SIGKILL
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 300); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    say "pid $pid did not stop within 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
}

start() {
    local pid old home jar t0 i
    if pid=$(running_pid); then
        old=$(cat "$DIR/port" 2>/dev/null || echo "?")
        if [ "$old" != "$PORT" ]; then
            die "already running (pid $pid) on $(url_of "$old"), not $PORT: 'make registry-down' first to change the port"
        fi
        say "already running (pid $pid) on $(url_of "$PORT"); Confluent API: $(url_of "$PORT")/apis/ccompat/v7"
        return 0
    fi
    if port_in_use "$PORT"; then
        die "port $HOST:$PORT is already in use by another program (another registry? 'make registry-status'; or pick REGISTRY_PORT=...)"
    fi
    command -v "$JAVA" >/dev/null 2>&1 ||
        die "java not found (Apicurio Registry 2.6 needs Java 17; Debian: apt-get install openjdk-17-jre-headless)"
    home=$("$HERE/fetch.sh") || die "tests/registry/fetch.sh could not download Apicurio Registry"
    jar=$(ls "$home"/apicurio-registry-app-*-runner.jar 2>/dev/null | head -n 1)
    [ -n "$jar" ] || die "no apicurio-registry-app-*-runner.jar in $home"
    mkdir -p "$DIR/db"
    echo "$PORT" >"$DIR/port"
    t0=$(date +%s.%N)
    # In the background of this (non-interactive) shell, and immune to the
    # terminal's hangup, so it outlives the terminal; it stays in the
    # caller's process group, so whatever kills that group (a test runner,
    # a Ctrl-C while this waits) stops it too.  'make registry-down' stops it.
    (cd "$DIR" && trap '' HUP && REGISTRY_DATASOURCE_URL="jdbc:h2:file:$DIR/db/registry" \
        exec "$JAVA" -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
            "-Dquarkus.http.port=$PORT" "-Dquarkus.http.host=$HOST" \
            -jar "$jar" >>"$DIR/registry.log" 2>&1 </dev/null) &
    pid=$!
    echo "$pid" >"$DIR/pid"
    say "starting Apicurio Registry $(basename "$home" | sed 's/^apicurio-//') (pid $pid), log: $DIR/registry.log"
    for i in $(seq $((START_TIMEOUT * 4))); do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$DIR/pid"
            echo "registry: it exited; last lines of $DIR/registry.log:" >&2
            tail -n 30 "$DIR/registry.log" >&2
            exit 1
        fi
        if answers "$PORT"; then
            say "up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}') s on $(url_of "$PORT"); Confluent API: $(url_of "$PORT")/apis/ccompat/v7"
            return 0
        fi
        sleep 0.25
    done
    echo "registry: not answering after ${START_TIMEOUT} s; stopping it. Last lines of $DIR/registry.log:" >&2
    tail -n 30 "$DIR/registry.log" >&2
    stop_pid "$pid"
    rm -f "$DIR/pid"
    exit 1
}

stop() {
    local pid
    if pid=$(running_pid); then
        stop_pid "$pid"
        say "stopped (pid $pid)"
    else
        say "not running"
    fi
    rm -f "$DIR/pid"
    if [ "$CLEAN" = 1 ] && [ -d "$DIR" ]; then
        rm -rf "$DIR"
        say "deleted $DIR (its schemas and ids)"
    fi
}

status() {
    local pid port
    if pid=$(running_pid); then
        port=$(cat "$DIR/port" 2>/dev/null || echo "?")
        if answers "$port"; then
            say "running (pid $pid) on $(url_of "$port"), answering; Confluent API: $(url_of "$port")/apis/ccompat/v7"
        else
            say "running (pid $pid) on $(url_of "$port"), not answering yet (starting?); log: $DIR/registry.log"
        fi
        return 0
    fi
    say "not running (state in $DIR)"
    return 1
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    -h|--help|help) usage ;;
    *) usage >&2; exit 2 ;;
esac
