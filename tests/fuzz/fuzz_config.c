/*
 * fuzz_config.c - fuzz target: the configuration loader (sg_conf_load:
 * the guarded YAML reading of gateway/config/yaml_load.c, the table
 * walker, every section's keys and checks, the sources list) on any file.
 * The drivers are replaced by one driver "sim" with a key table of every
 * kind (a list of sensors, a map, a string list, numbers, enums), so the
 * target builds from the config sources alone.
 *
 * Invariants (abort when broken): the loader returns (libFuzzer's timeout
 * catches a hang: libfyaml loops on some bytes); valid or not, never
 * both; every error line names the file, and every error is a line; a
 * valid configuration dumps and frees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "drivers/driver.h"
#include "fuzz.h"
#include "gateway/base/log.h"
#include "gateway/config/conf.h"
#include "gateway/config/table.h"

struct fz_sensor {
	char *id;
	int64_t rate;
	int kind;
};
struct fz_conf {
	struct sg_cfg_list sensors;
	struct sg_cfg_map headers;
	struct sg_cfg_strlist topics;
	double scale;
	int64_t interval_ms, size;
	bool flag;
};

static const char *const kinds[] = {"counter", "sine", NULL};
static const struct sg_cfg_key sensor_keys[] = {
    SG_KEY_STR("id", struct fz_sensor, id, NULL, "id", SG_REQUIRED),
    SG_KEY_INT("rate", struct fz_sensor, rate, "1", 1, 1000, "rate"),
    SG_KEY_ENUM("kind", struct fz_sensor, kind, "counter", kinds, "kind"),
};
static const struct sg_cfg_table sensor_table =
    SG_CFG_TABLE("sensors[]", "a sensor", struct fz_sensor, sensor_keys, NULL);
static const struct sg_cfg_key fz_keys[] = {
    SG_KEY_LIST("sensors", struct fz_conf, sensors, &sensor_table, "sensors"),
    SG_KEY_MAP("headers", struct fz_conf, headers, "headers"),
    SG_KEY_STRLIST("topics", struct fz_conf, topics, "topics"),
    SG_KEY_DOUBLE("scale", struct fz_conf, scale, "1", -1e9, 1e9, "scale"),
    SG_KEY_DURATION("interval", struct fz_conf, interval_ms, "1s", 1, 3600000, "interval"),
    SG_KEY_SIZE("size", struct fz_conf, size, "1k", 1, 1 << 30, "size"),
    SG_KEY_BOOL("flag", struct fz_conf, flag, "false", "flag"),
};
static const struct sg_cfg_table fz_table =
    SG_CFG_TABLE("sim", "the fuzz driver", struct fz_conf, fz_keys, NULL);

static const struct sg_driver fz_driver = {.name = "sim", .help = "fuzz", .conf = &fz_table};
const struct sg_driver *const sg_drivers[] = {&fz_driver, NULL};

const struct sg_driver *sg_driver_find(const char *name)
{
	return strcmp(name, "sim") ? NULL : &fz_driver;
}

static char path[128];

static void cleanup(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sg_conf c;
	char *errors = NULL;
	FILE *f;
	int rc;

	if (!path[0]) {
		sg_log_set_level(SG_LOG_QUIET);
		snprintf(path, sizeof(path), "%s/sg-fuzz-config.%d.yaml",
			 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (int)getpid());
		atexit(cleanup);
	}
	f = fopen(path, "w");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	rc = sg_conf_load(path, &c, &errors);
	FZ_CHECK(rc == SG_OK || rc == SG_ECONFIG);
	FZ_CHECK((rc == SG_OK) == (errors == NULL));
	if (errors) {
		for (const char *l = errors; *l;) {
			const char *nl = strchr(l, '\n');
			FZ_CHECK(nl != NULL);                      /* every error is a line */
			FZ_CHECK(!strncmp(l, path, strlen(path))); /* naming the file */
			l = nl + 1;
		}
		free(errors);
	} else {
		FILE *null = fopen("/dev/null", "w");
		sg_cfg_dump(&sg_conf_table, &c, 0, null);
		fclose(null);
	}
	sg_conf_free(&c);
	return 0;
}
