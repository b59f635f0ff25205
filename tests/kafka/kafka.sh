#!/usr/bin/env bash
# sensorgate: run a real local Apache Kafka 4.x cluster (KRaft mode, no
# ZooKeeper, no docker) for sensorgate's tests and for developers.
#
# Each node is a combined broker+controller JVM started with plain
# `java -cp 'libs/*' kafka.Kafka`, using the jars placed in the cache by
# tests/kafka/fetch.sh.  Everything binds to 127.0.0.1 only.
#
#   kafka.sh start [--brokers 1|3] [--port P] [--dir D]
#                  [--listener NAME:PROTOCOL]... [--config FILE] [--scram SPEC]...
#   kafka.sh stop [--dir D] [--clean]
#   kafka.sh status [--dir D]
#   kafka.sh kill-broker N [--graceful] [--dir D]
#   kafka.sh start-broker N [--dir D]
#   kafka.sh topics [--dir D] -- ARGS...   (Kafka's topic admin tool)
#   kafka.sh acls [--dir D] -- ARGS...     (Kafka's ACL tool, kafka-acls)
#   kafka.sh configs [--dir D] -- ARGS...  (Kafka's config tool, kafka-configs)
#   kafka.sh groups [--dir D] -- ARGS...   (Kafka's consumer group tool,
#                                           kafka-consumer-groups)
#   kafka.sh dump-log [--dir D] -- ARGS... (Kafka's log segment reader,
#                                           kafka-dump-log: --files F.log)
#
# Secured clusters (one broker): each --listener adds a listener on a free
# loopback port, e.g. SASL_SSL:SASL_SSL or SSL:SSL (written to D/listeners
# as "NAME host:port"); --config appends a properties file to the node's
# configuration (TLS keystores, SASL, the authorizer); --scram adds a
# SCRAM user when the storage is formatted, e.g.
# 'SCRAM-SHA-512=[name=alice,password=secret]'.  PLAINTEXT stays the
# inter-broker, controller and tools' listener; with an authorizer, make
# its principal User:ANONYMOUS a super user in the --config file.
#
# SENSORGATE_KAFKA_VERSION picks the Kafka release of a new cluster (see
# fetch.sh; e.g. 3.9.1 for clients whose SCRAM fails against 4.x).
#
# Without --dir this is "user mode": D=${SENSORGATE_CACHE:-$HOME/.cache/sensorgate}/kafka-local
# and the broker port defaults to 9092 (brokers on 9092, 9093, 9094 for 3).
# With --dir and no --port, free loopback ports are picked.
#
# Files in D: bootstrap (host:port,...), pids ("node pid" per line),
# cluster.env (ports, cluster id), config/node-N.properties, data/node-N/,
# logs/node-N.log.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SENSORGATE_CACHE:-$HOME/.cache/sensorgate}
START_TIMEOUT=${SENSORGATE_KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${SENSORGATE_KAFKA_STOP_TIMEOUT:-30}
JAVA=${JAVA:-${JAVA_HOME:+$JAVA_HOME/bin/}java}
# Broker JVM: small heap, serial GC (cheap on 2 cores).  Full JIT is kept so
# benchmarks are not limited by the broker; add -XX:TieredStopAtLevel=1 to
# SENSORGATE_KAFKA_JAVA_OPTS for a ~1-3 s faster start.
BROKER_JAVA_OPTS=${SENSORGATE_KAFKA_JAVA_OPTS:-"-Xms256m -Xmx512m -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true"}
# Short-lived admin tools: start-up time is all that matters.
TOOL_JAVA_OPTS="-Xms32m -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true"
PROBE_TOPIC=sensorgate-probe
FAIL_REASON=""
FAIL_NODES=()
HOST=127.0.0.1

say()  { printf 'kafka: %s\n' "$*"; }
warn() { printf 'kafka: %s\n' "$*" >&2; }
die()  { printf 'kafka: ERROR: %s\n' "$*" >&2; exit 1; }
now()  { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

usage() {
    sed -n '2,41p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

# ----------------------------------------------------------------- options
cmd=${1:-}
[ -n "$cmd" ] || { usage; exit 2; }
shift
case "$cmd" in -h|--help|help) usage; exit 0 ;; esac

DIR=""
OPT_BROKERS=""
OPT_PORT=""
OPT_CLEAN=0
OPT_GRACEFUL=0
OPT_LISTENERS=()
OPT_CONFIG=""
OPT_SCRAM=()
NODE_ARG=""
EXTRA=()
while [ $# -gt 0 ]; do
    case "$1" in
        --dir) DIR=${2:?--dir needs a value}; shift ;;
        --dir=*) DIR=${1#--dir=} ;;
        --brokers) OPT_BROKERS=${2:?--brokers needs a value}; shift ;;
        --brokers=*) OPT_BROKERS=${1#--brokers=} ;;
        --port) OPT_PORT=${2:?--port needs a value}; shift ;;
        --port=*) OPT_PORT=${1#--port=} ;;
        --clean) OPT_CLEAN=1 ;;
        --listener) OPT_LISTENERS+=("${2:?--listener needs NAME:PROTOCOL}"); shift ;;
        --config) OPT_CONFIG=${2:?--config needs a file}; shift ;;
        --scram) OPT_SCRAM+=("${2:?--scram needs a SPEC}"); shift ;;
        --graceful) OPT_GRACEFUL=1 ;;
        -h|--help) usage; exit 0 ;;
        --) shift; EXTRA=("$@"); break ;;
        [0-9]*) NODE_ARG=$1 ;;
        *) usage; die "unknown argument: $1" ;;
    esac
    shift
done

USER_MODE=0
DIR_OPT=""
if [ -z "$DIR" ]; then
    DIR=$CACHE/kafka-local
    USER_MODE=1
fi
[ "$cmd" = start ] && mkdir -p "$DIR"
if [ -d "$DIR" ]; then DIR=$(cd "$DIR" && pwd); fi
[ "$USER_MODE" -eq 1 ] || DIR_OPT=" --dir $DIR"
ENV_FILE=$DIR/cluster.env
PIDS_FILE=$DIR/pids

case "$OPT_BROKERS" in ""|1|3) ;; *) die "--brokers must be 1 or 3" ;; esac
case "$OPT_PORT" in ""|[0-9]*) ;; *) die "--port must be a number" ;; esac
for l in "${OPT_LISTENERS[@]}"; do
    case "$l" in
        *[!A-Z0-9_:]*|:*|*:|*:*:*) die "--listener must be NAME:PROTOCOL (e.g. SASL_SSL:SASL_SSL)" ;;
        *:*) ;;
        *) die "--listener must be NAME:PROTOCOL (e.g. SASL_SSL:SASL_SSL)" ;;
    esac
done
if [ -n "$OPT_CONFIG" ]; then
    [ -r "$OPT_CONFIG" ] || die "--config $OPT_CONFIG: not readable"
    OPT_CONFIG=$(cd "$(dirname "$OPT_CONFIG")" && pwd)/$(basename "$OPT_CONFIG")
fi

# ----------------------------------------------------------------- helpers
load_env() {
    [ -f "$ENV_FILE" ] || die "no local Kafka cluster in $DIR (run: $0 start$DIR_OPT)"
    # shellcheck disable=SC1090
    . "$ENV_FILE"
    read -r -a PORTS <<<"$BROKER_PORTS"
    read -r -a CPORTS <<<"$CONTROLLER_PORTS"
}

node_ids() { seq 1 "$BROKERS"; }
broker_port() { echo "${PORTS[$(($1 - 1))]}"; }
controller_port() { echo "${CPORTS[$(($1 - 1))]}"; }
node_conf() { echo "$DIR/config/node-$1.properties"; }
node_log() { echo "$DIR/logs/node-$1.log"; }

bootstrap_list() {
    local n out=""
    for n in $(node_ids); do out="${out:+$out,}$HOST:$(broker_port "$n")"; done
    echo "$out"
}

# Kafka-style random id: 16 random bytes, URL-safe base64, no padding, not
# starting with '-' (which command-line parsers would take for an option).
random_uuid() {
    local u
    while :; do
        u=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
        case "$u" in -*) ;; *) echo "$u"; return ;; esac
    done
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_in_use() {
    (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# Print $1 distinct free loopback ports.
free_ports() {
    local count=$1
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$count" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks:
    s.close()
PY
    else
        local out="" p
        while [ "$(wc -w <<<"$out")" -lt "$count" ]; do
            p=$((20000 + RANDOM % 30000))
            case " $out " in *" $p "*) continue ;; esac
            if ! port_in_use "$p" && ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
                out="$out $p"
            fi
        done
        echo "${out# }"
    fi
}

pid_of() {  # pid recorded for node $1, or empty
    [ -f "$PIDS_FILE" ] || return 0
    awk -v n="$1" '$1 == n { print $2 }' "$PIDS_FILE"
}

set_pid() {  # set_pid NODE PID   (empty PID removes the entry)
    local tmp=$PIDS_FILE.tmp.$$
    { [ -f "$PIDS_FILE" ] && awk -v n="$1" '$1 != n' "$PIDS_FILE"; [ -n "$2" ] && echo "$1 $2"; } \
        | sort -n >"$tmp" || true
    mv "$tmp" "$PIDS_FILE"
}

# True if $2 is alive and is the Kafka JVM of node $1 of this cluster (guards
# against signalling an unrelated process that reused the pid).
is_node_pid() {
    local n=$1 pid=$2
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    [ -r "/proc/$pid/cmdline" ] || return 0
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$(node_conf "$n")"
}

node_running() { is_node_pid "$1" "$(pid_of "$1")"; }

show_logs() {  # last log lines of the given nodes, on stderr
    local n f
    for n in "$@"; do
        f=$(node_log "$n")
        [ -f "$f" ] || continue
        printf -- '---- last lines of %s ----\n' "$f" >&2
        tail -n "${SENSORGATE_KAFKA_LOG_LINES:-40}" "$f" >&2
    done
}

kafka_libs() {
    local libs
    libs=$("$HERE/fetch.sh") || die "could not get the Kafka jars (see above)"
    echo "$libs"
}

check_tools() {
    command -v "$JAVA" >/dev/null 2>&1 ||
        die "java not found (need Java 17+; Debian: apt-get install openjdk-17-jre-headless, or set JAVA_HOME)"
    command -v kcat >/dev/null 2>&1 ||
        die "kcat not found (Debian: apt-get install kcat)"
}

run_tool() {  # run_tool MAINCLASS ARGS...   (a Kafka command-line tool)
    # shellcheck disable=SC2086
    "$JAVA" $TOOL_JAVA_OPTS \
        "-Dlog4j2.configurationFile=$HERE/log4j2-tools.properties" \
        -cp "$KAFKA_LIBS/*" "$@"
}

# ----------------------------------------------------------------- config
# The extra listeners (one broker): "NAME://HOST:PORT,..." and
# "NAME:PROTOCOL,..." from EXTRA_LISTENERS ("NAME:PROTOCOL:PORT ...").
extra_listeners() {
    local e out=""
    for e in ${EXTRA_LISTENERS:-}; do out="$out,${e%%:*}://$HOST:${e##*:}"; done
    echo "$out"
}
extra_protocols() {
    local e out="" np
    for e in ${EXTRA_LISTENERS:-}; do np=${e%:*}; out="$out,$np"; done
    echo "$out"
}

write_config() {  # write_config NODE
    local n=$1 rf=1 isr=1 voters="" i
    if [ "$BROKERS" -ge 3 ]; then rf=3; isr=2; fi
    for i in $(node_ids); do
        voters="${voters:+$voters,}$HOST:$(controller_port "$i")"
    done
    mkdir -p "$DIR/config" "$DIR/data/node-$n" "$DIR/logs"
    cat >"$(node_conf "$n")" <<CONF
# Generated by sensorgate tests/kafka/kafka.sh -- node $n of $BROKERS.
# KRaft combined mode: this JVM is both a broker and a controller.
process.roles=broker,controller
node.id=$n
controller.quorum.bootstrap.servers=$voters
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://$HOST:$(broker_port "$n"),CONTROLLER://$HOST:$(controller_port "$n")$(extra_listeners)
advertised.listeners=PLAINTEXT://$HOST:$(broker_port "$n"),CONTROLLER://$HOST:$(controller_port "$n")$(extra_listeners)
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT$(extra_protocols)
log.dirs=$DIR/data/node-$n

# Topics
auto.create.topics.enable=true
num.partitions=3
default.replication.factor=$rf
min.insync.replicas=$isr
unclean.leader.election.enable=false
# Keep every record: retention is by record timestamp, and the device
# fixtures replay readings stamped in 2024 (their own event time), which the
# default 7 days would delete at the next check, minutes into a test run.
log.retention.ms=-1

# Internal topics sized for a $BROKERS-node cluster
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0

# Small machine: few threads
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
background.threads=4
CONF
    if [ -n "${EXTRA_CONFIG:-}" ]; then
        printf '\n# From --config %s\n' "$EXTRA_CONFIG" >>"$(node_conf "$n")"
        cat "$EXTRA_CONFIG" >>"$(node_conf "$n")"
    fi
}

# The extra listeners' addresses, "NAME host:port" per line.
write_listeners() {
    local e
    : >"$DIR/listeners"
    for e in ${EXTRA_LISTENERS:-}; do echo "${e%%:*} $HOST:${e##*:}" >>"$DIR/listeners"; done
}

format_node() {  # format_node NODE  -> formats data dir unless already done
    local n=$1 out
    [ -f "$DIR/data/node-$n/meta.properties" ] && return 0
    local quorum=() scram=() s
    if [ "$BROKERS" -eq 1 ]; then
        quorum=(--standalone)
    else
        quorum=(--initial-controllers "$INITIAL_CONTROLLERS")
    fi
    if [ -f "$DIR/scram" ]; then
        while IFS= read -r s; do [ -n "$s" ] && scram+=(--add-scram "$s"); done <"$DIR/scram"
    fi
    if ! out=$(run_tool kafka.tools.StorageTool format \
            --cluster-id "$CLUSTER_ID" --config "$(node_conf "$n")" "${quorum[@]}" \
            "${scram[@]}" 2>&1); then
        printf '%s\n' "$out" >&2
        return 1
    fi
}

# ----------------------------------------------------------------- nodes
start_node() {  # start_node NODE   (background JVM, pid recorded)
    local n=$1 log pid
    log=$(node_log "$n")
    mkdir -p "$DIR/logs"
    printf '==== sensorgate: starting node %s at %s ====\n' "$n" "$(date '+%F %T')" >>"$log"
    # setsid: own session, so a Ctrl-C in the caller's terminal does not hit
    # the broker; stdin/stdout/stderr detached so callers' pipes close.
    # shellcheck disable=SC2086
    setsid "$JAVA" $BROKER_JAVA_OPTS \
        "-Dlog4j2.configurationFile=$HERE/log4j2.properties" \
        "-Dsensorgate.kafka.loglevel=${SENSORGATE_KAFKA_LOGLEVEL:-INFO}" \
        "-Dkafka.logs.dir=$DIR/logs" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$(node_conf "$n")" \
        </dev/null >>"$log" 2>&1 &
    pid=$!
    set_pid "$n" "$pid"
}

# Stop the given nodes: SIGTERM, wait up to STOP_TIMEOUT s, then SIGKILL.
#
# When a whole multi-node cluster is stopped, a node whose broker part is
# still waiting for the controller to approve its controlled shutdown can be
# left without a controller quorum (the other nodes' controllers are gone);
# it would then wait minutes.  Such a node gets QUORUM_GRACE seconds after
# the quorum is lost and is then killed (its data is recovered on restart).
QUORUM_GRACE=${SENSORGATE_KAFKA_QUORUM_GRACE:-8}
stop_nodes() {
    local n pid deadline running lost_since="" t
    local majority=$(( BROKERS / 2 + 1 ))
    local -a live=() left=()
    for n in "$@"; do
        pid=$(pid_of "$n")
        if is_node_pid "$n" "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            live+=("$n")
        else
            set_pid "$n" ""
        fi
    done
    [ ${#live[@]} -gt 0 ] || return 0
    deadline=$(( $(date +%s) + STOP_TIMEOUT ))
    while :; do
        left=()
        for n in "${live[@]}"; do
            node_running "$n" && left+=("$n")
        done
        [ ${#left[@]} -gt 0 ] || break
        t=$(date +%s)
        running=0
        for n in $(node_ids); do node_running "$n" && running=$((running + 1)); done
        if [ "$BROKERS" -gt 1 ] && [ "$running" -lt "$majority" ]; then
            lost_since=${lost_since:-$t}
        fi
        if [ -n "$lost_since" ] && [ $((t - lost_since)) -ge "$QUORUM_GRACE" ]; then
            for n in "${left[@]}"; do
                say "node $n still waits for the (stopped) controller quorum; killing it"
                kill -KILL "$(pid_of "$n")" 2>/dev/null || true
            done
            break
        fi
        if [ "$t" -ge "$deadline" ]; then
            for n in "${left[@]}"; do
                warn "node $n (pid $(pid_of "$n")) did not stop within ${STOP_TIMEOUT}s; killing it"
                kill -KILL "$(pid_of "$n")" 2>/dev/null || true
            done
            break
        fi
        sleep 0.3
    done
    # Wait for killed processes to be gone (ports released) before returning.
    for n in "${live[@]}"; do
        pid=$(pid_of "$n")
        while [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        set_pid "$n" ""
    done
}

# Metadata as seen by one address, in kcat's plain-text form ("" on failure).
metadata() {  # metadata ADDR [TOPIC]
    local args=(-L -b "$1" -m 3 -X socket.connection.setup.timeout.ms=3000)
    [ -n "${2:-}" ] && args+=(-t "$2")
    kcat "${args[@]}" 2>/dev/null || true
}

# True when node N answers metadata itself (it does so only once it is
# registered and unfenced), lists itself, and the metadata shows at least
# MIN brokers (BROKERS on a full start, so that topics with the full
# replication factor can be made).
node_serving() {  # node_serving NODE MIN
    local n=$1 min=$2 md count
    port_in_use "$(broker_port "$n")" || return 1   # cheap check before kcat
    md=$(metadata "$HOST:$(broker_port "$n")")
    count=$(sed -n 's/^ *\([0-9][0-9]*\) brokers:.*/\1/p' <<<"$md" | head -n 1)
    [ "${count:-0}" -ge "$min" ] && grep -q "broker $n at " <<<"$md"
}

# Produce one record to the probe topic with acks=all; true on delivery.
probe_produce() {
    printf 'probe %s\n' "$(date +%s)" | kcat -P -b "$(bootstrap_list)" -t "$PROBE_TOPIC" \
        -X acks=all -X message.timeout.ms=10000 -X socket.connection.setup.timeout.ms=3000 \
        >/dev/null 2>"$DIR/logs/probe.err"
}

# Probe topic metadata must list every partition with a leader.
probe_metadata_ok() {
    local md
    md=$(metadata "$(bootstrap_list)" "$PROBE_TOPIC")
    grep -q "topic \"$PROBE_TOPIC\" with [1-9][0-9]* partitions" <<<"$md" &&
        ! grep -qE 'leader -1|Broker: |Local: ' <<<"$md"
}

# Wait until the given nodes serve.  Mode "cluster" (start): all BROKERS
# brokers must be in the metadata and a record must be produced with
# acks=all.  Mode "node" (start-broker): the node itself must serve; other
# nodes may be down, so nothing is produced.
wait_ready() {  # wait_ready cluster|node NODE...
    local mode=$1 n ok min=1
    shift
    [ "$mode" = cluster ] && min=$BROKERS
    local deadline=$(( $(date +%s) + START_TIMEOUT ))
    while :; do
        for n in "$@"; do
            if ! node_running "$n"; then
                FAIL_REASON="node $n exited during start-up"
                FAIL_NODES=("$n")
                return 1
            fi
        done
        ok=1
        for n in "$@"; do node_serving "$n" "$min" || { ok=0; break; }; done
        if [ "$ok" -eq 1 ]; then
            [ "$mode" = node ] && return 0
            probe_produce && probe_metadata_ok && return 0
        fi
        if [ "$(date +%s)" -ge "$deadline" ]; then
            FAIL_REASON="not ready within ${START_TIMEOUT}s"
            FAIL_NODES=("$@")
            return 1
        fi
        sleep 0.25
    done
}

# Report a failed wait_ready: reason, log tails, last probe error.
start_failed() {
    warn "ERROR: Kafka start failed: $FAIL_REASON (full logs: $DIR/logs); last log lines:"
    show_logs "${FAIL_NODES[@]}"
    if [ -s "$DIR/logs/probe.err" ]; then
        printf -- '---- last produce probe error (kcat) ----\n' >&2
        tail -n 5 "$DIR/logs/probe.err" >&2
    fi
    warn "ERROR: Kafka start failed: $FAIL_REASON; stopping the node(s) started"
}

# ----------------------------------------------------------------- commands
cmd_start() {
    check_tools
    local t0 n
    t0=$(now)
    if [ -f "$ENV_FILE" ]; then
        load_env
        if [ -n "$OPT_BROKERS" ] && [ "$OPT_BROKERS" != "$BROKERS" ]; then
            die "$DIR already holds a $BROKERS-broker cluster; run '$0 stop --clean$DIR_OPT' first"
        fi
        if [ -n "$OPT_PORT" ] && [ "$OPT_PORT" != "$(broker_port 1)" ]; then
            die "$DIR already uses port $(broker_port 1); run '$0 stop --clean$DIR_OPT' first to change it"
        fi
    else
        BROKERS=${OPT_BROKERS:-1}
        local base=$OPT_PORT
        [ -z "$base" ] && [ "$USER_MODE" -eq 1 ] && base=9092
        if [ -n "$base" ]; then
            BROKER_PORTS=$(seq -s ' ' "$base" $((base + BROKERS - 1)))
        else
            BROKER_PORTS=$(free_ports "$BROKERS")
        fi
        for n in $BROKER_PORTS; do
            if port_in_use "$n"; then
                die "port $HOST:$n is already in use by another program (another Kafka? 'make kafka-status'; or pick --port)"
            fi
        done
        # Controller ports are always picked freely (they are internal).
        local all
        all=$(free_ports $((BROKERS * 2)))
        CONTROLLER_PORTS=""
        for n in $all; do
            case " $BROKER_PORTS $CONTROLLER_PORTS " in *" $n "*) continue ;; esac
            CONTROLLER_PORTS="${CONTROLLER_PORTS:+$CONTROLLER_PORTS }$n"
            [ "$(wc -w <<<"$CONTROLLER_PORTS")" -eq "$BROKERS" ] && break
        done
        CLUSTER_ID=$(random_uuid)
        EXTRA_LISTENERS=""
        EXTRA_CONFIG=$OPT_CONFIG
        if [ ${#OPT_LISTENERS[@]} -gt 0 ]; then
            [ "$BROKERS" -eq 1 ] || die "--listener needs --brokers 1"
            local lp=() i=0
            read -r -a lp <<<"$(free_ports $(( ${#OPT_LISTENERS[@]} + 4 )))"
            for l in "${OPT_LISTENERS[@]}"; do
                while case " $BROKER_PORTS $CONTROLLER_PORTS " in *" ${lp[$i]} "*) true ;; *) false ;; esac; do
                    i=$((i + 1))
                done
                EXTRA_LISTENERS="${EXTRA_LISTENERS:+$EXTRA_LISTENERS }$l:${lp[$i]}"
                i=$((i + 1))
            done
        fi
        # SCRAM users for the format (the file holds passwords: 0600).
        (umask 077; printf '%s\n' "${OPT_SCRAM[@]}" >"$DIR/scram")
        read -r -a PORTS <<<"$BROKER_PORTS"
        read -r -a CPORTS <<<"$CONTROLLER_PORTS"
        INITIAL_CONTROLLERS=""
        for n in $(node_ids); do
            INITIAL_CONTROLLERS="${INITIAL_CONTROLLERS:+$INITIAL_CONTROLLERS,}$n@$HOST:$(controller_port "$n"):$(random_uuid)"
        done
        KAFKA_LIBS=$(kafka_libs)
        KAFKA_VERSION=$(sed -n 's/^version=//p' "$KAFKA_LIBS/.sensorgate-complete")
        for n in $(node_ids); do write_config "$n"; done
        cat >"$ENV_FILE" <<ENV
# sensorgate local Kafka cluster state (written by tests/kafka/kafka.sh)
BROKERS=$BROKERS
BROKER_PORTS="$BROKER_PORTS"
CONTROLLER_PORTS="$CONTROLLER_PORTS"
CLUSTER_ID=$CLUSTER_ID
INITIAL_CONTROLLERS="$INITIAL_CONTROLLERS"
KAFKA_VERSION=$KAFKA_VERSION
KAFKA_LIBS="$KAFKA_LIBS"
EXTRA_LISTENERS="$EXTRA_LISTENERS"
EXTRA_CONFIG="$EXTRA_CONFIG"
ENV
        write_listeners
    fi
    # Jars may have been removed from the cache since: fetch again if so.
    if [ ! -f "$KAFKA_LIBS/.sensorgate-complete" ]; then
        KAFKA_LIBS=$(SENSORGATE_KAFKA_VERSION=$KAFKA_VERSION kafka_libs)
    fi

    local -a todo=()
    for n in $(node_ids); do
        node_running "$n" || todo+=("$n")
    done
    if [ ${#todo[@]} -eq 0 ]; then
        bootstrap_list >"$DIR/bootstrap"
        say "already running: $BROKERS broker(s) at $(bootstrap_list) (dir $DIR)"
        return 0
    fi
    for n in "${todo[@]}"; do
        for p in "$(broker_port "$n")" "$(controller_port "$n")"; do
            port_in_use "$p" && die "port $HOST:$p (node $n) is already in use by another program (another Kafka? stop it, or use --port / --dir)"
        done
    done

    # Format storage (in parallel: each format is a JVM start).
    local -a fpids=()
    local failed=0
    for n in "${todo[@]}"; do
        format_node "$n" &
        fpids+=($!)
    done
    for p in "${fpids[@]}"; do wait "$p" || failed=1; done
    [ "$failed" -eq 0 ] || die "formatting Kafka storage in $DIR/data failed (see above)"

    for n in "${todo[@]}"; do start_node "$n"; done
    bootstrap_list >"$DIR/bootstrap"

    if ! wait_ready cluster "${todo[@]}"; then
        start_failed
        stop_nodes "${todo[@]}"
        exit 1
    fi
    say "$BROKERS broker(s) ready at $(bootstrap_list) in $(elapsed "$t0")s (Kafka $KAFKA_VERSION, dir $DIR)"
}

cmd_stop() {
    if [ ! -f "$ENV_FILE" ]; then
        [ "$OPT_CLEAN" -eq 1 ] || { say "nothing to stop in $DIR"; return 0; }
    else
        load_env
        local t0
        t0=$(now)
        local -a ids
        mapfile -t ids < <(node_ids)
        stop_nodes "${ids[@]}"
        say "stopped ($DIR) in $(elapsed "$t0")s"
    fi
    if [ "$OPT_CLEAN" -eq 1 ]; then
        # Remove only what this script creates, never the whole directory.
        rm -rf "$DIR/config" "$DIR/data" "$DIR/logs"
        rm -f "$DIR/bootstrap" "$DIR/pids" "$ENV_FILE"
        rmdir "$DIR" 2>/dev/null || true
        say "removed cluster data in $DIR"
    fi
}

cmd_status() {
    if [ ! -f "$ENV_FILE" ]; then
        say "no local Kafka cluster in $DIR"
        return 1
    fi
    load_env
    local n pid up=0 md count
    for n in $(node_ids); do
        pid=$(pid_of "$n")
        if is_node_pid "$n" "$pid"; then
            up=$((up + 1))
            say "node $n: running (pid $pid), broker $HOST:$(broker_port "$n"), controller $HOST:$(controller_port "$n")"
        else
            say "node $n: stopped, broker $HOST:$(broker_port "$n")"
        fi
    done
    say "bootstrap: $(bootstrap_list)  (Kafka $KAFKA_VERSION, dir $DIR)"
    if [ "$up" -gt 0 ]; then
        md=$(metadata "$(bootstrap_list)")
        count=$(sed -n 's/^ *\([0-9][0-9]*\) brokers:.*/\1/p' <<<"$md" | head -n 1)
        if [ -n "$count" ]; then
            say "cluster: reachable, $count broker(s) in metadata"
        else
            say "cluster: NOT answering metadata requests"
            return 1
        fi
    fi
    [ "$up" -eq "$BROKERS" ]
}

node_arg() {
    [ -n "$NODE_ARG" ] || die "$cmd needs a node number (1..$BROKERS)"
    case "$NODE_ARG" in *[!0-9]*) die "node must be a number" ;; esac
    if [ "$NODE_ARG" -lt 1 ] || [ "$NODE_ARG" -gt "$BROKERS" ]; then
        die "node must be between 1 and $BROKERS"
    fi
}

cmd_kill_broker() {
    load_env
    node_arg
    local n=$NODE_ARG pid
    pid=$(pid_of "$n")
    if ! is_node_pid "$n" "$pid"; then
        say "node $n is not running"
        set_pid "$n" ""
        return 0
    fi
    if [ "$OPT_GRACEFUL" -eq 1 ]; then
        stop_nodes "$n"
        say "node $n stopped (SIGTERM)"
    else
        kill -KILL "$pid"
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
        set_pid "$n" ""
        say "node $n killed (SIGKILL, pid $pid)"
    fi
}

cmd_start_broker() {
    check_tools
    load_env
    node_arg
    local n=$NODE_ARG t0
    t0=$(now)
    if node_running "$n"; then
        say "node $n already running (pid $(pid_of "$n"))"
        return 0
    fi
    for p in "$(broker_port "$n")" "$(controller_port "$n")"; do
        port_in_use "$p" && die "port $HOST:$p (node $n) is already in use"
    done
    [ -f "$KAFKA_LIBS/.sensorgate-complete" ] ||
        KAFKA_LIBS=$(SENSORGATE_KAFKA_VERSION=$KAFKA_VERSION kafka_libs)
    format_node "$n" || die "formatting storage of node $n failed"
    start_node "$n"
    if ! wait_ready node "$n"; then
        start_failed
        stop_nodes "$n"
        exit 1
    fi
    say "node $n ready at $HOST:$(broker_port "$n") in $(elapsed "$t0")s"
}

cmd_tool() {  # cmd_tool MAINCLASS: a Kafka admin tool against the PLAINTEXT listener
    command -v "$JAVA" >/dev/null 2>&1 || die "java not found"
    load_env
    [ -f "$KAFKA_LIBS/.sensorgate-complete" ] ||
        KAFKA_LIBS=$(SENSORGATE_KAFKA_VERSION=$KAFKA_VERSION kafka_libs)
    run_tool "$1" --bootstrap-server "$(bootstrap_list)" "${EXTRA[@]}"
}

cmd_topics() { cmd_tool org.apache.kafka.tools.TopicCommand; }

# kafka-dump-log: reads segment files (D/data/node-N/TOPIC-P/*.log) itself,
# no broker needed, so no --bootstrap-server.
cmd_dump_log() {
    command -v "$JAVA" >/dev/null 2>&1 || die "java not found"
    load_env
    [ -f "$KAFKA_LIBS/.sensorgate-complete" ] ||
        KAFKA_LIBS=$(SENSORGATE_KAFKA_VERSION=$KAFKA_VERSION kafka_libs)
    run_tool kafka.tools.DumpLogSegments "${EXTRA[@]}"
}

case "$cmd" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    kill-broker) cmd_kill_broker ;;
    start-broker) cmd_start_broker ;;
    topics) cmd_topics ;;
    acls) # The ACL tool moved to the tools module in Kafka 4.0.
        load_env
        case "$KAFKA_VERSION" in
            [0-3].*) cmd_tool kafka.admin.AclCommand ;;
            *) cmd_tool org.apache.kafka.tools.AclCommand ;;
        esac ;;
    configs) cmd_tool kafka.admin.ConfigCommand ;;
    groups) cmd_tool org.apache.kafka.tools.consumer.group.ConsumerGroupCommand ;;
    dump-log) cmd_dump_log ;;
    -h|--help|help) usage ;;
    *) usage; die "unknown command: $cmd" ;;
esac
