# sensorgate: make targets for a local Schema Registry (Apicurio Registry
# 2.6 as a plain Java process, no docker), meant to be included from the
# top-level Makefile:
#
#   include tests/registry/registry.mk
#
#   make registry-up       Apicurio Registry on http://127.0.0.1:8080, its
#                          Confluent API at /apis/ccompat/v7 (first run
#                          downloads it from Maven Central into the cache);
#                          returns once it answers, about 8 s
#   make registry-down     stop it (schemas kept; REGISTRY_CLEAN=1 also
#                          deletes them)
#   make registry-status   show whether it runs
#
#   REGISTRY_PORT=P        another port (default 8080)
#
# Files live in $(SENSORGATE_CACHE)/registry-local (default
# ~/.cache/sensorgate): pid, port, registry.log, db/.  See
# docs/tutorial/05-schema-registry.md and docs/schemas.md.

SENSORGATE_REGISTRY_SH := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))/registry.sh
REGISTRY_PORT ?= 8080

.PHONY: registry-up registry-down registry-status

registry-up:
	@$(SENSORGATE_REGISTRY_SH) start --port $(REGISTRY_PORT)

registry-down:
	@$(SENSORGATE_REGISTRY_SH) stop $(if $(filter 1 yes true,$(REGISTRY_CLEAN)),--clean)

registry-status:
	@$(SENSORGATE_REGISTRY_SH) status || true
