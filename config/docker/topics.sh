#!/bin/sh
# topics.sh - create the tutorial topics on the three-broker cluster; run
# once by the topic-init service of docker-compose.yml (apache/kafka image).
# Without docker: BOOTSTRAP=localhost:9092 KAFKA_BIN=/path/to/kafka/bin sh topics.sh
#
# Every topic: 3 partitions (so a consumer group of up to 3 members shares
# the work), replication factor 3 (one copy per broker) and
# min.insync.replicas 2 (the gateway's acks=all write survives one broker
# being down, and is refused rather than kept on a single copy when two are).
set -eu

BOOTSTRAP=${BOOTSTRAP:-kafka1:19092,kafka2:19092,kafka3:19092}
KAFKA_BIN=${KAFKA_BIN:-/opt/kafka/bin}
TOPICS=${TOPICS:-"sensors.greenhouse sensors.factory sensors.plant sensors.meters"}
PARTITIONS=${PARTITIONS:-3}
RF=${RF:-3}

# The brokers answer a while after their containers start.
tries=0
until "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --list >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "topics: no broker answered at $BOOTSTRAP after 120 s" >&2
    exit 1
  fi
  sleep 2
done

for t in $TOPICS; do
  "$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$t" --partitions "$PARTITIONS" --replication-factor "$RF" \
    --config min.insync.replicas=2
done
"$KAFKA_BIN/kafka-topics.sh" --bootstrap-server "$BOOTSTRAP" --describe --topic 'sensors\..*'
echo "topics: ready"
