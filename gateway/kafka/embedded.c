/*
 * embedded.c - librdkafka's mock Kafka cluster inside this process.
 *
 * The cluster lives inside a throw-away librdkafka handle of its own
 * (made by the client constructor, kind SG_KAFKA_MOCK_HOST), so producers
 * and consumers (ours, kcat) connect to it over loopback like to any
 * broker.  `bootstrap: embedded` runs one inside the gateway; the
 * `sensorgate kafka-mock` command (gateway/cli/cli_kafka_mock.c) runs one
 * in a process of its own for fault-injection tests.
 */
#include "embedded.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdlib.h>

#include "client.h"
#include "gateway/base/mem.h"

struct sg_mock {
	rd_kafka_t *rk;
	rd_kafka_mock_cluster_t *mc;
	int brokers;
	char *bootstrap;
};

int sg_mock_start(int brokers, struct sg_mock **out, struct sg_errbuf *eb)
{
	struct sg_mock *m = sg_xcalloc(1, sizeof(*m));
	const struct sg_kafka_opts o = {.kind = SG_KAFKA_MOCK_HOST, .who = "mock cluster"};
	int rc;

	if ((rc = sg_kafka_new(&o, &m->rk, eb)) != SG_OK) {
		free(m);
		return rc;
	}
	m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
	if (!m->mc) {
		rd_kafka_destroy(m->rk);
		free(m);
		return sg_errf(eb, SG_EKAFKA, "cannot start the mock cluster");
	}
	m->brokers = brokers;
	m->bootstrap = sg_strdup(rd_kafka_mock_cluster_bootstraps(m->mc));
	*out = m;
	return SG_OK;
}

const char *sg_mock_bootstrap(const struct sg_mock *m)
{
	return m->bootstrap;
}

int sg_mock_create_topic(struct sg_mock *m, const char *topic, int partitions)
{
	int rf = m->brokers < 3 ? m->brokers : 3;
	return rd_kafka_mock_topic_create(m->mc, topic, partitions, rf) ? SG_EKAFKA : SG_OK;
}

static int mock_each(struct sg_mock *m, int broker,
		     rd_kafka_resp_err_t (*fn)(rd_kafka_mock_cluster_t *, int32_t))
{
	for (int b = 1; b <= m->brokers; b++)
		if ((broker == 0 || broker == b) && fn(m->mc, b))
			return SG_EKAFKA;
	return SG_OK;
}

int sg_mock_broker_down(struct sg_mock *m, int broker)
{
	return mock_each(m, broker, rd_kafka_mock_broker_set_down);
}

int sg_mock_broker_up(struct sg_mock *m, int broker)
{
	return mock_each(m, broker, rd_kafka_mock_broker_set_up);
}

int sg_mock_broker_rtt(struct sg_mock *m, int broker, int ms)
{
	for (int b = 1; b <= m->brokers; b++)
		if ((broker == 0 || broker == b) && rd_kafka_mock_broker_set_rtt(m->mc, b, ms))
			return SG_EKAFKA;
	return SG_OK;
}

void sg_mock_stop(struct sg_mock *m)
{
	if (!m)
		return;
	rd_kafka_mock_cluster_destroy(m->mc);
	rd_kafka_destroy(m->rk);
	free(m->bootstrap);
	free(m);
}
