/*
 * test_kafka_hold.c - the records of refused topics (gateway/kafka/hold.h)
 * against a real directory, driven like the producer drives it: a topic
 * refused, its records put in seq order, a probe, the drain in order with
 * reports in any order, a failure halfway, a restart that reads the
 * files again (torn tail cut), the bound on bytes, the files' modes.
 * Also the brokers-up count from librdkafka's statistics and the
 * readiness rules for a refused connection or topic.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/base/clock.h"
#include "gateway/core/health.h"
#include "gateway/kafka/hold.h"
#include "gateway/kafka/producer_mode.h"
#include "t.h"

#define S (SG_NS_PER_S)

static char dir[512];

static struct sg_hold *open_hold(uint64_t max_bytes)
{
	struct sg_hold_conf hc = {.dir = dir, .max_bytes = max_bytes, .max_record = 4096};
	struct sg_hold *h = NULL;
	struct sg_errbuf eb;

	CHECK_EQ(sg_hold_open(&hc, &h, &eb), SG_OK);
	return h;
}

static void put(struct sg_hold *h, const char *topic, uint64_t seq)
{
	char rec[32];

	snprintf(rec, sizeof(rec), "record-%llu", (unsigned long long)seq);
	CHECK_EQ(sg_hold_put(h, topic, strlen(topic), seq, rec, strlen(rec)), SG_OK);
}

/* Take the next record to send; its seq, or 0. */
static uint64_t next(struct sg_hold *h, int64_t now, uint32_t *tok)
{
	struct sg_buf b;
	uint64_t seq = 0;
	char want[32];

	sg_buf_init(&b);
	if (sg_hold_next(h, now, &seq, &b, tok)) {
		snprintf(want, sizeof(want), "record-%llu", (unsigned long long)seq);
		CHECK(b.len == strlen(want) && !memcmp(b.p, want, b.len));
	} else {
		seq = 0;
	}
	sg_buf_free(&b);
	return seq;
}

static unsigned held_topics(struct sg_hold *h, uint64_t *records)
{
	unsigned topics;

	sg_hold_counts(h, &topics, records, NULL, 0);
	return topics;
}

TEST(a_refused_topic_is_held_probed_and_drained_in_order)
{
	struct sg_hold *h;
	uint32_t tok[8];
	uint64_t rec;
	struct stat st;
	char path[700];

	snprintf(dir, sizeof(dir), "%s/held", t_tmpdir());
	h = open_hold(1 << 20);
	CHECK(!sg_hold_is_held(h, "t1", 2));
	CHECK_EQ(sg_hold_refuse(h, "t1", 2, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0),
		 SG_OK);
	CHECK(sg_hold_is_held(h, "t1", 2));
	CHECK(!sg_hold_is_held(h, "t", 1));
	CHECK_EQ(sg_hold_put(h, "t2", 2, 1, "x", 1), SG_ENOTFOUND);
	for (uint64_t s = 10; s <= 14; s++)
		put(h, "t1", s);
	put(h, "t1", 12); /* given again after a crash: not twice */
	CHECK_EQ(sg_hold_sync(h), SG_OK);
	CHECK_EQ(held_topics(h, &rec), 1);
	CHECK_EQ(rec, 5);
	/* 0700 directory, 0600 file. */
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	snprintf(path, sizeof(path), "%s/t1.held", dir);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	/* Not before the retry is due (1 s); then one probe at a time. */
	CHECK_EQ(next(h, S / 2, &tok[0]), 0);
	CHECK_EQ(next(h, 2 * S, &tok[0]), 10);
	CHECK_EQ(next(h, 2 * S, &tok[1]), 0);
	/* Refused again: back off (2 s now), the same record first again. */
	sg_hold_result(h, tok[0], SG_HOLD_FAILED, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
		       2 * S);
	CHECK_EQ(next(h, 3 * S, &tok[0]), 0);
	CHECK_EQ(next(h, 5 * S, &tok[0]), 10);
	/* Taken: the topic drains, in file order, several in flight. */
	sg_hold_result(h, tok[0], SG_HOLD_DELIVERED, 0, 5 * S);
	CHECK_EQ(next(h, 5 * S, &tok[1]), 11);
	CHECK_EQ(next(h, 5 * S, &tok[2]), 12);
	put(h, "t1", 15); /* new records of the topic go behind the held ones */
	CHECK_EQ(next(h, 5 * S, &tok[3]), 13);
	/* Reports out of order; a failure waits for the rest, then resumes at
	 * the first record not delivered. */
	sg_hold_result(h, tok[2], SG_HOLD_DELIVERED, 0, 5 * S);
	sg_hold_result(h, tok[1], SG_HOLD_FAILED, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, 5 * S);
	CHECK_EQ(next(h, 5 * S, &tok[4]), 0); /* failed: nothing new */
	sg_hold_result(h, tok[3], SG_HOLD_DELIVERED, 0, 5 * S);
	CHECK_EQ(next(h, 5 * S + S / 2, &tok[1]), 0); /* backoff */
	CHECK_EQ(next(h, 100 * S, &tok[1]), 11);      /* 12 and 13 again: at-least-once */
	sg_hold_result(h, tok[1], SG_HOLD_DELIVERED, 0, 100 * S);
	for (uint64_t want = 12; want <= 15; want++) {
		CHECK_EQ(next(h, 100 * S, &tok[0]), want);
		sg_hold_result(h, tok[0], want == 14 ? SG_HOLD_DONE : SG_HOLD_DELIVERED, 0,
			       100 * S);
	}
	/* All delivered: the file is gone and the topic flows again. */
	CHECK(!sg_hold_is_held(h, "t1", 2));
	CHECK(access(path, F_OK) != 0);
	CHECK_EQ(held_topics(h, &rec), 0);
	CHECK_EQ(rec, 0);
	sg_hold_close(h);
}

TEST(held_records_survive_a_restart_and_a_torn_tail_is_cut)
{
	struct sg_hold *h;
	uint32_t tok;
	uint64_t rec;
	char path[700];
	int fd;

	snprintf(dir, sizeof(dir), "%s/held", t_tmpdir());
	h = open_hold(1 << 20);
	CHECK_EQ(sg_hold_refuse(h, "plant.a", 7, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0),
		 SG_OK);
	put(h, "plant.a", 3);
	put(h, "plant.a", 4);
	CHECK_EQ(sg_hold_sync(h), SG_OK);
	sg_hold_close(h);
	snprintf(path, sizeof(path), "%s/plant.a.held", dir);
	fd = open(path, O_WRONLY | O_APPEND);
	CHECK(write(fd, "SGR1torn", 8) == 8); /* a frame cut by a power loss */
	close(fd);
	h = open_hold(1 << 20);
	CHECK(sg_hold_is_held(h, "plant.a", 7));
	CHECK_EQ(held_topics(h, &rec), 1);
	CHECK_EQ(rec, 2);
	put(h, "plant.a", 4); /* the spool gives it again: already here */
	put(h, "plant.a", 5);
	/* Due at once after a restart. */
	CHECK_EQ(next(h, 0, &tok), 3);
	sg_hold_result(h, tok, SG_HOLD_DELIVERED, 0, 0);
	CHECK_EQ(next(h, 0, &tok), 4);
	sg_hold_result(h, tok, SG_HOLD_DELIVERED, 0, 0);
	CHECK_EQ(next(h, 0, &tok), 5);
	sg_hold_result(h, tok, SG_HOLD_DELIVERED, 0, 0);
	CHECK(!sg_hold_is_held(h, "plant.a", 7));
	sg_hold_close(h);
}

TEST(the_hold_is_bounded_and_names_are_checked)
{
	struct sg_hold *h;

	snprintf(dir, sizeof(dir), "%s/held", t_tmpdir());
	h = open_hold(100);
	CHECK_EQ(sg_hold_refuse(h, "t", 1, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0), SG_OK);
	put(h, "t", 1);
	put(h, "t", 2);
	CHECK_EQ(sg_hold_put(h, "t", 1, 9, "0123456789012345678901234567890123456789", 40),
		 SG_ENOSPC);
	CHECK_EQ(sg_hold_refuse(h, "../etc", 6, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0),
		 SG_EINVAL);
	CHECK_EQ(sg_hold_refuse(h, "..", 2, RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0),
		 SG_EINVAL);
	sg_hold_close(h);
}

TEST(brokers_up_from_statistics)
{
	const char *json =
	    "{ \"name\": \"p\", \"brokers\":{ "
	    "\"127.0.0.1:9093/bootstrap\": { \"name\":\"127.0.0.1:9093/bootstrap\", \"nodeid\":-1, "
	    "\"nodename\":\"127.0.0.1:9093\", \"source\":\"configured\", \"state\":\"UP\", "
	    "\"toppars\":{ } }, "
	    "\"127.0.0.1:9093/1\": { \"name\":\"127.0.0.1:9093/1\", \"nodeid\":1, "
	    "\"source\":\"configured\", \"state\":\"UP\", \"req\": { \"Produce\": 2 } }, "
	    "\"127.0.0.1:9094/2\": { \"name\":\"127.0.0.1:9094/2\", \"nodeid\":2, "
	    "\"source\":\"learned\", \"state\":\"UP\" }, "
	    "\"127.0.0.1:9095/3\": { \"name\":\"127.0.0.1:9095/3\", \"nodeid\":3, "
	    "\"source\":\"learned\", \"state\":\"AUTH_REQ\" }, "
	    "\"TxnCoordinator\": { \"name\":\"TxnCoordinator\", \"nodeid\":1, "
	    "\"source\":\"logical\", \"state\":\"UP\" } }, "
	    "\"topics\":{ \"t\": { \"partitions\": { \"0\": { \"nodeid\":2, \"state\":\"UP\" } } } "
	    "} }";

	CHECK_EQ(sg_prod_stats_brokers_up(json, strlen(json)), 2);
	CHECK_EQ(sg_prod_stats_brokers_up("{\"name\":\"p\"}", 12), -1);
	CHECK_EQ(sg_prod_stats_brokers_up("{\"brokers\":{}, \"topics\":{}}", 27), 0);
}

static bool ready(const struct sg_health_input *in, const char *want)
{
	struct sg_buf b;
	bool ok;

	sg_buf_init(&b);
	ok = sg_health_ready(in, &b);
	sg_buf_addc(&b, '\0');
	if (want && !strstr(b.p, want))
		t_fail(__FILE__, __LINE__, "ready body %s lacks %s", b.p, want);
	sg_buf_free(&b);
	return ok;
}

TEST(readiness_says_what_kafka_refuses)
{
	struct sg_health_loop loops[1] = {{"main", 0, false}};
	struct sg_health_input in = {.now_ns = 100 * S,
				     .stall_ns = 30 * S,
				     .loops = loops,
				     .nloops = 1,
				     .spool_max_bytes = 1000,
				     .high_water_pct = 90,
				     .max_age_ns = 60 * S,
				     .delivery_stall_ns = 300 * S,
				     .brokers_up = 1};

	loops[0].beat_ns = in.now_ns;
	CHECK(ready(&in, "\"name\":\"kafka:topics\",\"ok\":true"));
	/* A topic an ACL denies: not ready, and which one and how much waits. */
	in.topics_refused = 1;
	in.held = 42;
	in.refused = "topic plant.x: TOPIC_AUTHORIZATION_FAILED";
	CHECK(!ready(&in, "1 topic(s) refused (topic plant.x: TOPIC_AUTHORIZATION_FAILED); 42 "
			  "event(s) held"));
	/* No broker, and why. */
	in.topics_refused = 0;
	in.brokers_up = 0;
	in.kafka_conn = "_AUTHENTICATION: SASL authentication error: invalid credentials";
	CHECK(
	    !ready(&in, "\"name\":\"kafka:connection\",\"ok\":false,\"detail\":\"_AUTHENTICATION"));
	/* Connected again: the old reason is not held against it. */
	in.brokers_up = 1;
	CHECK(ready(&in, NULL));
}
