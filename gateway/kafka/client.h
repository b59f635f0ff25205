/*
 * client.h - librdkafka configuration shared by every client the
 * gateway opens (producer, checkpoint reader, view tail, actuator
 * consumer): the connection settings from kafka.properties.
 */
#ifndef SG_KAFKA_CONF_H
#define SG_KAFKA_CONF_H

#include <librdkafka/rdkafka.h>

#include "gateway/config/conf.h"

/* Copy the security.*, sasl.* and ssl.* properties into kc, so consumers
 * reach a secured cluster the same way the producer does. */
void sg_kafka_conf_security(rd_kafka_conf_t *kc, const struct sg_conf *c);

#endif
