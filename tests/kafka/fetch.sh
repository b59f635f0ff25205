#!/usr/bin/env bash
# sensorgate: download a real Apache Kafka 4.x broker (jars + runtime deps)
# and MirrorMaker 2 (connect-mirror and the Connect runtime it runs on) from
# Maven Central with Maven, into
#   ${SENSORGATE_CACHE:-$HOME/.cache/sensorgate}/kafka-<version>/libs
# so that tests/kafka/kafka.sh and tests/kafka/mirrormaker.sh can run them
# with plain `java -cp 'libs/*'`.
#
# Idempotent: a complete download is marked with libs/.sensorgate-complete and
# is not fetched again.  On success the libs directory is printed on stdout
# (the only thing ever printed there); progress and errors go to stderr.
#
# Environment:
#   SENSORGATE_CACHE          cache root (default $HOME/.cache/sensorgate)
#   SENSORGATE_KAFKA_VERSION  versions to try, in order (default "4.1.1 4.0.1")
#   MVN                       Maven command (default mvn)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${SENSORGATE_CACHE:-$HOME/.cache/sensorgate}
VERSIONS=${SENSORGATE_KAFKA_VERSION:-"4.1.1 4.0.1"}
MVN=${MVN:-mvn}
MARKER=.sensorgate-complete

say() { printf 'kafka-fetch: %s\n' "$*" >&2; }
die() { say "ERROR: $*"; exit 1; }

usage() {
    cat >&2 <<USAGE
usage: $0 [--force]
  Downloads Kafka and MirrorMaker 2 jars (versions tried in order: $VERSIONS) into
  $CACHE/kafka-<version>/libs and prints that directory.
  --force   download again even if a complete copy is cached
USAGE
}

force=0
while [ $# -gt 0 ]; do
    case "$1" in
        --force) force=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage; exit 2 ;;
    esac
    shift
done

# A cached copy counts only if the marker and the main jars are present
# (a copy fetched before MirrorMaker 2 was added is fetched again).
is_complete() {
    local v=$1 libs=$CACHE/kafka-$1/libs
    [ -f "$libs/$MARKER" ] &&
        [ -f "$libs/kafka_2.13-$v.jar" ] &&
        [ -f "$libs/kafka-clients-$v.jar" ] &&
        [ -f "$libs/kafka-tools-$v.jar" ] &&
        [ -f "$libs/connect-mirror-$v.jar" ]
}

if [ "$force" -eq 0 ]; then
    for v in $VERSIONS; do
        if is_complete "$v"; then
            echo "$CACHE/kafka-$v/libs"
            exit 0
        fi
    done
fi

command -v "$MVN" >/dev/null 2>&1 ||
    die "Maven ('$MVN') not found; install it (Debian: apt-get install maven) or set MVN"
command -v java >/dev/null 2>&1 ||
    die "java not found; Kafka needs a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"

mkdir -p "$CACHE"

# Serialise concurrent fetches (parallel test runs) on one lock file.
if command -v flock >/dev/null 2>&1; then
    exec 9>"$CACHE/.kafka-fetch.lock"
    flock -w 900 9 || die "timed out waiting for another fetch to finish ($CACHE/.kafka-fetch.lock)"
fi

for v in $VERSIONS; do
    if [ "$force" -eq 0 ] && is_complete "$v"; then   # fetched while we waited
        echo "$CACHE/kafka-$v/libs"
        exit 0
    fi
    dest=$CACHE/kafka-$v
    tmp=$dest/libs.partial.$$
    mvnlog=$dest/fetch-maven.log
    mkdir -p "$dest"
    rm -rf "$tmp"
    say "downloading Apache Kafka $v jars from Maven Central (first run only)..."
    if ! "$MVN" -q -B -U -Dstyle.color=never -f "$HERE/pom.xml" \
            dependency:copy-dependencies \
            "-Dkafka.version=$v" "-Dsensorgate.kafka.libs=$tmp" \
            >"$mvnlog" 2>&1; then
        say "ERROR: Maven could not fetch Kafka $v; last lines of $mvnlog:"
        tail -n 25 "$mvnlog" | sed -e 's/\x1b\[[0-9;]*m//g' -e 's/^/  | /' >&2
        rm -rf "$tmp"
        continue
    fi
    for jar in "kafka_2.13-$v.jar" "kafka-clients-$v.jar" "kafka-tools-$v.jar" \
               "kafka-server-$v.jar" "kafka-storage-$v.jar" "kafka-metadata-$v.jar" \
               "connect-mirror-$v.jar" "connect-mirror-client-$v.jar" "connect-runtime-$v.jar"; do
        [ -f "$tmp/$jar" ] || { say "ERROR: $jar missing after Maven run"; rm -rf "$tmp"; continue 2; }
    done
    {
        echo "version=$v"
        echo "jars=$(find "$tmp" -maxdepth 1 -name '*.jar' | wc -l)"
        echo "fetched=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$tmp/$MARKER"
    if [ "$force" -eq 0 ] && [ -f "$dest/libs/$MARKER" ] && [ -f "$dest/libs/kafka_2.13-$v.jar" ]; then
        # An older complete copy of this version (before MirrorMaker 2 was
        # added): add the new jars beside the old ones instead of replacing
        # the directory, whose jars brokers that run now may still load.
        cp -n "$tmp"/*.jar "$dest/libs/"
        mv "$tmp/$MARKER" "$dest/libs/$MARKER"
        rm -rf "$tmp"
    else
        rm -rf "$dest/libs"
        mv "$tmp" "$dest/libs"
    fi
    say "Kafka $v ready in $dest/libs"
    echo "$dest/libs"
    exit 0
done

die "could not download Kafka (tried: $VERSIONS). Maven Central must be reachable;
             check 'mvn -v', proxy settings in ~/.m2/settings.xml, and the log above."
