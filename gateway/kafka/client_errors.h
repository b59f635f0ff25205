/*
 * client_errors.h - inside the client layer: the error callback a client
 * gets when its caller gives none (sink, actuators, live view, the
 * checkpoint reader), and where its state lives.  The public half,
 * sg_kafka_error_note() and sg_kafka_error_clear(), is in client.h.
 *
 * Threads: the callback runs on whichever thread serves the client's
 * queue; each client's state is used by that thread only.
 */
#ifndef SG_KAFKA_CLIENT_ERRORS_H
#define SG_KAFKA_CLIENT_ERRORS_H

#include <librdkafka/rdkafka.h>

#include "client.h"

/* The state for clients named who (a string literal): a fixed slot per
 * name, kept for the process's life (clients of the same name are made
 * one after the other, never two at once). */
struct sg_kafka_errlog *sg_kafka_errlog_for(const char *who);

/* error_cb with an opaque from sg_kafka_errlog_for(). */
void sg_kafka_default_error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);

#endif
