# sensorgate: make targets for a local Apache Kafka broker (KRaft, no docker),
# meant to be included from the top-level Makefile:
#
#   include tests/kafka/kafka.mk
#
#   make kafka-up       single broker on 127.0.0.1:9092 (first run downloads
#                       Kafka's jars from Maven Central into the cache)
#   make kafka-down     stop it (data kept; KAFKA_CLEAN=1 also deletes it)
#   make kafka-status   show whether it runs
#
# Files live in $(SENSORGATE_CACHE)/kafka-local (default ~/.cache/sensorgate).
# See docs/kafka-local.md.

SENSORGATE_KAFKA_SH := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))/kafka.sh
KAFKA_PORT ?= 9092
KAFKA_BROKERS ?= 1

.PHONY: kafka-up kafka-down kafka-status

kafka-up:
	@$(SENSORGATE_KAFKA_SH) start --brokers $(KAFKA_BROKERS) --port $(KAFKA_PORT)

kafka-down:
	@$(SENSORGATE_KAFKA_SH) stop $(if $(filter 1 yes true,$(KAFKA_CLEAN)),--clean)

kafka-status:
	@$(SENSORGATE_KAFKA_SH) status || true
