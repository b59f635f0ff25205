#!/usr/bin/env bash
# sensorgate: run Apache Kafka's MirrorMaker 2 as a plain process (no
# docker, no Connect cluster): the dedicated MirrorMaker driver,
# `java -cp 'libs/*' org.apache.kafka.connect.mirror.MirrorMaker mm2.properties`,
# on the jars tests/kafka/fetch.sh puts in the cache (connect-mirror is part
# of the same download as the broker).
#
#   mirrormaker.sh start --dir D --config mm2.properties [--clusters NAME]...
#   mirrormaker.sh stop [--dir D]
#   mirrormaker.sh status [--dir D]
#
# start runs one MirrorMaker process in the background and waits until it
# says it has started (its connectors then create the mirrored topics on
# the target cluster as they find source topics).  --clusters limits the
# process to the named target cluster(s) of the properties file (the
# driver's own --clusters option: run it next to the target).  The
# properties file is read where it is; edit it and restart to change it.
#
# Files in D (default ${SENSORGATE_CACHE:-$HOME/.cache/sensorgate}/mirrormaker):
# pid (the JVM's pid), config (the properties file's path), mm2.log (its
# log, appended to), log4j2.properties (written at start).
# SENSORGATE_MM2_LOGLEVEL (default INFO) sets the log level of Connect and
# the mirror; SENSORGATE_MM2_JAVA_OPTS replaces the JVM options.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SENSORGATE_CACHE:-$HOME/.cache/sensorgate}
START_TIMEOUT=${SENSORGATE_MM2_START_TIMEOUT:-90}
STOP_TIMEOUT=${SENSORGATE_MM2_STOP_TIMEOUT:-30}
JAVA=${JAVA:-${JAVA_HOME:+$JAVA_HOME/bin/}java}
# One JVM for all the mirror's workers: a small heap and the serial GC, as
# the brokers of kafka.sh (the 2-core machines this runs on).
MM2_JAVA_OPTS=${SENSORGATE_MM2_JAVA_OPTS:-"-Xms128m -Xmx512m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true"}
MAIN=org.apache.kafka.connect.mirror.MirrorMaker

say() { printf 'mirrormaker: %s\n' "$*"; }
die() { printf 'mirrormaker: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,23p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

cmd=${1:-}
[ -n "$cmd" ] || { usage; exit 2; }
shift
case "$cmd" in -h|--help|help) usage; exit 0 ;; esac

DIR=$CACHE/mirrormaker
CONFIG=""
CLUSTERS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) DIR=${2:?--dir needs a value}; shift ;;
        --dir=*) DIR=${1#--dir=} ;;
        --config) CONFIG=${2:?--config needs a file}; shift ;;
        --config=*) CONFIG=${1#--config=} ;;
        --clusters) CLUSTERS+=("${2:?--clusters needs a cluster name}"); shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
    shift
done

[ "$cmd" = start ] && mkdir -p "$DIR"
if [ -d "$DIR" ]; then DIR=$(cd "$DIR" && pwd); fi
PID_FILE=$DIR/pid
LOG=$DIR/mm2.log

# True if $1 is alive and is a MirrorMaker JVM run from this directory's
# config (guards against signalling a process that reused the pid).
is_mm2_pid() {
    local pid=$1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ -r "/proc/$pid/cmdline" ] || return 0
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$MAIN"
}

current_pid() { if [ -f "$PID_FILE" ]; then cat "$PID_FILE"; fi; }
running() { is_mm2_pid "$(current_pid)"; }

tail_log() {
    [ -f "$LOG" ] || return 0
    printf -- '---- last lines of %s ----\n' "$LOG" >&2
    tail -n "${SENSORGATE_MM2_LOG_LINES:-40}" "$LOG" >&2
}

# log4j2 for the mirror: the layout of kafka.sh's brokers (everything on
# stdout, which is the log), the Connect and mirror lines at the chosen
# level, the embedded clients' chatter at ERROR: while a cluster is away
# their metadata retries write thousands of lines a minute.
write_log4j() {
    local level=${SENSORGATE_MM2_LOGLEVEL:-INFO}
    cat >"$DIR/log4j2.properties" <<LOG4J
# Written by tests/kafka/mirrormaker.sh at each start.
status = warn
name = sensorgate-mirrormaker
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d{yyyy-MM-dd HH:mm:ss,SSS}] %-5p %m (%c{1})%n
rootLogger.level = $level
rootLogger.appenderRef.out.ref = OUT
logger.clients.name = org.apache.kafka.clients
logger.clients.level = ERROR
logger.common.name = org.apache.kafka.common
logger.common.level = WARN
logger.plugins.name = org.apache.kafka.connect.runtime.isolation
logger.plugins.level = WARN
LOG4J
}

cmd_start() {
    [ -n "$CONFIG" ] || die "start needs --config mm2.properties"
    [ -r "$CONFIG" ] || die "--config $CONFIG: not readable"
    CONFIG=$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")
    grep -qE '^[[:space:]]*clusters[[:space:]]*=' "$CONFIG" ||
        die "$CONFIG has no 'clusters =' line (the cluster aliases, e.g. clusters = primary, dr)"
    if running; then
        say "already running (pid $(current_pid), config $(cat "$DIR/config" 2>/dev/null))"
        return 0
    fi
    command -v "$JAVA" >/dev/null 2>&1 ||
        die "java not found (need Java 17+; Debian: apt-get install openjdk-17-jre-headless, or set JAVA_HOME)"
    local libs t0 pid args=() c mark
    libs=$("$HERE/fetch.sh") || die "could not get the Kafka jars (see above)"
    [ -f "$libs/connect-mirror-$(sed -n 's/^version=//p' "$libs/.sensorgate-complete").jar" ] ||
        die "$libs has no connect-mirror jar (run: $HERE/fetch.sh --force)"
    for c in "${CLUSTERS[@]}"; do args+=(--clusters "$c"); done
    t0=$(date +%s)
    : >>"$LOG"
    mark=$(wc -l <"$LOG")
    printf '==== sensorgate: starting MirrorMaker 2 at %s (config %s) ====\n' \
        "$(date '+%F %T')" "$CONFIG" >>"$LOG"
    write_log4j
    # In the background of this (non-interactive) shell and immune to the
    # terminal's hangup, so it outlives the terminal; it stays in the
    # caller's process group, so whatever kills that group (a test runner,
    # a Ctrl-C while this waits) stops it too.  Detached stdin/stdout, so
    # callers' pipes close.
    # shellcheck disable=SC2086
    (trap '' HUP && exec "$JAVA" $MM2_JAVA_OPTS \
        "-Dlog4j2.configurationFile=$DIR/log4j2.properties" \
        -cp "$libs/*" "$MAIN" "$CONFIG" "${args[@]}" \
        </dev/null >>"$LOG" 2>&1) &
    pid=$!
    echo "$pid" >"$PID_FILE"
    echo "$CONFIG" >"$DIR/config"
    # The driver logs "Kafka MirrorMaker started" once every herder has
    # started (joined its group on the target cluster).
    while :; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail_log
            rm -f "$PID_FILE"
            die "MirrorMaker exited during start (log: $LOG)"
        fi
        if tail -n +"$((mark + 1))" "$LOG" | grep -q 'Kafka MirrorMaker started'; then
            break
        fi
        if [ $(( $(date +%s) - t0 )) -ge "$START_TIMEOUT" ]; then
            tail_log
            kill -TERM "$pid" 2>/dev/null || true
            die "MirrorMaker did not start within ${START_TIMEOUT}s (log: $LOG)"
        fi
        sleep 0.5
    done
    say "started (pid $pid) in $(( $(date +%s) - t0 ))s, config $CONFIG, log $LOG"
}

cmd_stop() {
    local pid deadline
    pid=$(current_pid)
    if ! is_mm2_pid "$pid"; then
        rm -f "$PID_FILE"
        say "not running ($DIR)"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$(( $(date +%s) + STOP_TIMEOUT ))
    # A mirror whose source cluster is gone waits for its tasks to give up
    # (Connect's task.shutdown.graceful.timeout.ms, 5 s each) before it exits.
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            printf 'mirrormaker: pid %s did not stop within %ss; killing it\n' "$pid" "$STOP_TIMEOUT" >&2
            kill -KILL "$pid" 2>/dev/null || true
            while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
            break
        fi
        sleep 0.2
    done
    rm -f "$PID_FILE"
    say "stopped (pid $pid)"
}

cmd_status() {
    if running; then
        say "running (pid $(current_pid)), config $(cat "$DIR/config" 2>/dev/null), log $LOG"
        return 0
    fi
    say "not running ($DIR)"
    return 1
}

case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    *) usage; die "unknown command: $cmd" ;;
esac
