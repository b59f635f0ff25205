/*
 * test_send_topic.c - sg_send_produce() hands librdkafka the record's
 * topic as a C string cut where "%.*s" into its 256-byte buffer cut it:
 * at the record's length, at a NUL inside it, or at 255 bytes.  The
 * producer here has no broker it can reach; the records stay queued and
 * come back purged, each delivery report naming the topic it was given,
 * by name or through the producer's topic handles, which hold the
 * topics last used and replace the oldest past SG_SEND_TOPICS.
 */
#include <librdkafka/rdkafka.h>
#include <string.h>

#include "gateway/kafka/producer_send.h"
#include "t.h"

static char got[64][300];
static int ngot;
static struct sg_send_topics *cache; /* NULL: by name */

static void on_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
	(void)rk;
	(void)opaque;
	if (ngot < 64)
		snprintf(got[ngot++], sizeof(got[0]), "%s", rd_kafka_topic_name(m->rkt));
}

static rd_kafka_t *queue_only(void)
{
	char err[256];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (rd_kafka_conf_set(conf, "bootstrap.servers", "127.0.0.1:1", err, sizeof(err)) ||
	    rd_kafka_conf_set(conf, "log_level", "0", err, sizeof(err))) {
		rd_kafka_conf_destroy(conf);
		return NULL;
	}
	rd_kafka_conf_set_dr_msg_cb(conf, on_dr);
	return rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
}

static rd_kafka_resp_err_t produce(rd_kafka_t *rk, const char *topic, size_t len)
{
	struct sg_record r = {.topic = topic,
			      .topic_len = (uint16_t)len,
			      .key = "k",
			      .key_len = 1,
			      .value = "v",
			      .value_len = 1,
			      .version = SG_RECORD_V2};

	return sg_send_produce(rk, cache, &r, NULL);
}

TEST(topic_cut_as_before)
{
	char longest[300];
	rd_kafka_t *rk = queue_only();

	CHECK(rk != NULL);
	if (!rk)
		return;
	memset(longest, 'a', sizeof(longest));
	ngot = 0;
	CHECK_EQ(produce(rk, "sensors.gh.more", 10), 0); /* not NUL-terminated at 10 */
	CHECK_EQ(produce(rk, "ab\0cd", 5), 0);
	CHECK_EQ(produce(rk, longest, sizeof(longest)), 0);
	CHECK_EQ(produce(rk, longest, 255), 0);
	rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	for (int i = 0; i < 50 && ngot < 4; i++)
		rd_kafka_poll(rk, 100);
	CHECK_EQ(ngot, 4);
	CHECK_STR(got[0], "sensors.gh");
	CHECK_STR(got[1], "ab");
	CHECK_EQ(strlen(got[2]), 255);
	CHECK(strspn(got[2], "a") == 255);
	CHECK_STR(got[3], got[2]);
	rd_kafka_destroy(rk);
}

/* How many delivery reports named topic (reports come per partition,
 * not in produce order). */
static int reports_for(const char *topic)
{
	int k = 0;

	for (int i = 0; i < ngot; i++)
		k += !strcmp(got[i], topic);
	return k;
}

TEST(topic_handles_same_topics)
{
	static struct sg_send_topics t;
	char name[SG_SEND_TOPICS + 8][32];
	rd_kafka_t *rk = queue_only();
	const int total = 3 + SG_SEND_TOPICS + 8 + 1;

	CHECK(rk != NULL);
	if (!rk)
		return;
	cache = &t;
	ngot = 0;
	CHECK_EQ(produce(rk, "sensors.gh.more", 10), 0);
	CHECK_EQ(produce(rk, "sensors.gh", 10), 0); /* the same handle */
	CHECK_EQ(produce(rk, "ab\0cd", 5), 0);
	CHECK_EQ(t.n, 2);
	/* More topics than handles: the oldest are replaced, every record
	 * still goes to the topic it names. */
	for (int i = 0; i < SG_SEND_TOPICS + 8; i++) {
		snprintf(name[i], sizeof(name[i]), "t.%d", i);
		CHECK_EQ(produce(rk, name[i], strlen(name[i])), 0);
	}
	CHECK_EQ(t.n, SG_SEND_TOPICS);
	CHECK_EQ(produce(rk, "sensors.gh", 10), 0); /* replaced meanwhile: made again */
	rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
	for (int i = 0; i < 50 && ngot < total; i++)
		rd_kafka_poll(rk, 100);
	CHECK_EQ(ngot, total);
	CHECK_EQ(reports_for("sensors.gh"), 3);
	CHECK_EQ(reports_for("ab"), 1);
	for (int i = 0; i < SG_SEND_TOPICS + 8; i++)
		CHECK_EQ(reports_for(name[i]), 1);
	sg_send_topics_clear(&t);
	CHECK_EQ(t.n, 0);
	cache = NULL;
	rd_kafka_destroy(rk);
}
