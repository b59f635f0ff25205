/*
 * embedded.h - librdkafka's mock cluster hosted in this process: the
 * `bootstrap: embedded` demo and the `sensorgate kafka-mock` fault
 * injection server used by tests.  Not a replacement for a real broker.
 *
 * sg_mock_start() returns a cluster the caller owns and ends with
 * sg_mock_stop() (NULL is a no-op).  The bootstrap string is owned by the
 * cluster.  The calls return SG_OK or SG_EKAFKA; any one thread at a
 * time may call them.
 */
#ifndef SG_MOCK_H
#define SG_MOCK_H

#include "gateway/base/err.h"

struct sg_mock;

int sg_mock_start(int brokers, struct sg_mock **out, struct sg_errbuf *eb);
const char *sg_mock_bootstrap(const struct sg_mock *m);
int sg_mock_create_topic(struct sg_mock *m, const char *topic, int partitions);
/* broker 0 = all brokers. */
int sg_mock_broker_down(struct sg_mock *m, int broker);
int sg_mock_broker_up(struct sg_mock *m, int broker);
int sg_mock_broker_rtt(struct sg_mock *m, int broker, int ms);
void sg_mock_stop(struct sg_mock *m);

#endif
