#!/usr/bin/env bash
# sensorgate: download Apicurio Registry (the Quarkus app, with its
# Confluent-compatible API at /apis/ccompat/v7) from Maven Central into
#   ${SENSORGATE_CACHE:-$HOME/.cache/sensorgate}/apicurio-<version>/
# so that tests/lib/registry.py can run it with plain `java -jar`.
#
# Why Apicurio 2.6: the Confluent Schema Registry is not on Maven Central,
# Karapace is not on PyPI, and Apicurio 3.x needs Java 21 (Debian 12 has
# 17).  2.6's "-all" archive is the ready-to-run Quarkus layout (runner jar
# + lib/), starts in about 8 s, and keeps its schemas in an H2 file when
# REGISTRY_DATASOURCE_URL says so, so a restart keeps the ids.
#
# Idempotent (a complete copy is marked with .sensorgate-complete); prints
# the directory on stdout, progress and errors on stderr.
set -euo pipefail

CACHE=${SENSORGATE_CACHE:-$HOME/.cache/sensorgate}
VERSION=${SENSORGATE_APICURIO_VERSION:-2.6.13.Final}
MVN=${MVN:-mvn}
DEST=$CACHE/apicurio-$VERSION
JAR=apicurio-registry-app-$VERSION-runner.jar

say() { printf 'registry-fetch: %s\n' "$*" >&2; }

if [ -f "$DEST/.sensorgate-complete" ] && [ -f "$DEST/$JAR" ]; then
    echo "$DEST"
    exit 0
fi
command -v "$MVN" >/dev/null || { say "Maven ('$MVN') not found (Debian: apt-get install maven)"; exit 1; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.apicurio-fetch.lock"
flock -w 900 9 || { say "timed out waiting for another fetch"; exit 1; }
if [ -f "$DEST/.sensorgate-complete" ]; then echo "$DEST"; exit 0; fi

tmp=$DEST.partial.$$
rm -rf "$tmp"
mkdir -p "$tmp"
say "downloading Apicurio Registry $VERSION from Maven Central (first run only)..."
if ! "$MVN" -q -B -Dstyle.color=never dependency:copy \
        "-Dartifact=io.apicurio:apicurio-registry-app:$VERSION:tar.gz:all" \
        "-DoutputDirectory=$tmp" >"$tmp.log" 2>&1; then
    say "Maven could not fetch it; last lines of $tmp.log:"
    tail -n 20 "$tmp.log" >&2
    rm -rf "$tmp"
    exit 1
fi
tar -xzf "$tmp"/apicurio-registry-app-*-all.tar.gz -C "$tmp"
rm -f "$tmp"/apicurio-registry-app-*-all.tar.gz "$tmp.log"
[ -f "$tmp/$JAR" ] || { say "$JAR missing in the archive"; rm -rf "$tmp"; exit 1; }
date -u +%Y-%m-%dT%H:%M:%SZ >"$tmp/.sensorgate-complete"
rm -rf "$DEST"
mv "$tmp" "$DEST"
say "Apicurio Registry $VERSION ready in $DEST"
echo "$DEST"
