/*
 * actuator.h - Kafka as a source of commands: a consumer in the gateway
 * reads `actuators.topic` and applies each record to a driver's write()
 * (set a Modbus register, drive a GPIO output).
 *
 * A command record: key `<source>/<target>`, value the new value as text
 * (`true`, `false`, an integer, a number, or any other text).  Commands
 * older than `actuators.max_age` (by record timestamp) are not applied:
 * after an outage the gateway does not replay stale orders to a plant.
 * A new consumer group starts at the earliest offset, so a command sent
 * just before the gateway (re)joined is still applied if it is fresh.
 * Offsets are committed after the write was attempted; re-delivery after
 * a crash re-applies the last commands, so commands should set absolute
 * values (idempotent), not toggle.
 */
#ifndef SG_ACTUATOR_H
#define SG_ACTUATOR_H

#include "gateway/config/conf.h"
#include "gateway/core/sources.h"

struct sg_actuator;

/* Start the command consumer (made by gateway/kafka/client.h with
 * kafka.properties) and its thread.  SG_OK with *out set, or *out NULL
 * when actuators.topic is empty; SG_ECONFIG (a refused property, in eb),
 * SG_EKAFKA, SG_ERR.  sg_actuator_stop() joins the thread and closes the
 * consumer; NULL is a no-op. */
int sg_actuator_start(const struct sg_conf *conf, const char *bootstrap, struct sg_pipeline *pl,
		      struct sg_actuator **out, struct sg_errbuf *eb);
void sg_actuator_stop(struct sg_actuator *a);

/* Parse a command value: bool, integer, double or string (borrowed). */
void sg_actuator_parse_value(const char *s, size_t n, struct sg_value *v);

#endif
