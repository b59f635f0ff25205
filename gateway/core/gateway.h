/*
 * gateway.h - one running gateway: the object that owns the spool, the
 * embedded cluster (bootstrap: embedded), the producer, the sources, the
 * actuator consumer and the view, and the one place where their start and
 * stop order is written down.
 *
 *   open:  spool (recovery) -> embedded cluster -> producer -> sources
 *          (driver init) -> start producer -> start sources -> actuators
 *          -> view.  On any failure, whatever was opened is closed again
 *          in the stop order below.
 *   close: actuators (no more writes into drivers) -> tell sources to stop
 *          -> wake sources blocked on a full spool -> join sources (driver
 *          stop, which may still append) -> fsync the spool -> drain the
 *          producer for up to gateway.shutdown_timeout -> free -> save the
 *          spool cursor -> embedded cluster.
 *
 * Whatever is not delivered at close stays in the spool and is sent by
 * the next open of the same spool directory.
 *
 * Threads: open, run, reload and close are called from one thread (the
 * main thread of `sensorgate run`, or a test).  sg_gateway_request_*()
 * may be called from any thread and from a signal handler.
 */
#ifndef SG_GATEWAY_H
#define SG_GATEWAY_H

#include <stdbool.h>

#include "gateway/base/err.h"
#include "gateway/config/conf.h"

struct sg_gateway;

/*
 * Open and start a gateway from conf (malloc'd), whose ownership passes
 * to the gateway in every case (it is freed by sg_gateway_close, or here on
 * failure).  Returns SG_OK with *out running; SG_ECONFIG when the
 * configuration cannot work (a refused Kafka property, a driver that
 * refuses its settings: exit code 2 territory); another SG_E* when a
 * resource failed (the spool is locked by another gateway, a thread could
 * not start).  eb says what and where.
 */
int sg_gateway_open(struct sg_conf *conf, struct sg_gateway **out, struct sg_errbuf *eb);

/*
 * The main loop: refreshes the view or logs the status line, serves the
 * view's tail consumer, and acts on requests, until a stop is requested.
 * A reload request re-reads the configuration file given to
 * sg_gateway_set_config_file() and calls sg_gateway_reload().  Returns
 * SG_OK when stopped by a request.
 */
int sg_gateway_run(struct sg_gateway *gw);

/* Ask the loop to return (stop) or to reload; async-signal-safe. */
void sg_gateway_request_stop(struct sg_gateway *gw);
void sg_gateway_request_reload(struct sg_gateway *gw);

/* The file a reload request re-reads (borrowed; must outlive gw). */
void sg_gateway_set_config_file(struct sg_gateway *gw, const char *file);

/*
 * Apply a new configuration (malloc'd; ownership passes to the gateway in
 * every case), checked by the caller.  If a key that needs a restart
 * differs (gateway.id, spool, the Kafka connection or delivery mode,
 * http: see reload_plan.h), nothing is applied and SG_EAGAIN says which.
 * Otherwise sources removed from the file stop, changed ones restart
 * (never two instances at once), new ones start, kept ones run on
 * untouched; log, view and actuator settings apply; the spool, producer
 * and event ids carry on, so no event is lost or sent twice by a reload.
 * SG_OK, or SG_ERR when a step failed (a driver refused its new
 * settings: that source keeps its old ones, or stays stopped if new).
 */
int sg_gateway_reload(struct sg_gateway *gw, struct sg_conf *conf, struct sg_errbuf *eb);

/* Stop in the order above and free everything.  NULL is a no-op. */
void sg_gateway_close(struct sg_gateway *gw);

/* Where the producer connects: kafka.bootstrap, or the embedded
 * cluster's address.  Valid until close. */
const char *sg_gateway_bootstrap(const struct sg_gateway *gw);
/* True when the gateway runs the embedded mock cluster. */
bool sg_gateway_embedded(const struct sg_gateway *gw);
/* The running configuration (borrowed; replaced by a successful reload). */
const struct sg_conf *sg_gateway_conf(const struct sg_gateway *gw);

#endif
