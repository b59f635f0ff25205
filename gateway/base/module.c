/*
 * module.c - finding, opening and checking the loadable modules
 * (module.h): one dlopen per module file for the life of the process.
 */
#include "module.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SG_VERSION
#error "module.c is built with the version header (Makefile: SG_VERSIONED)"
#endif
#ifndef SG_MODULE_DIR
#error "module.c is built with the module directory header (Makefile: moduledir.h)"
#endif

/* More than the modules there are. */
#define MOD_MAX 8

const char sg_module_build_version[] = SG_VERSION;

struct mod {
	char file[64];
	const struct sg_module_head *table;
};

static pthread_mutex_t mod_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mod mod_loaded[MOD_MAX];
static size_t mod_n;

static bool mod_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int sg_module_dir(char *out, size_t n)
{
	const char *env = getenv(SG_MODULE_DIR_ENV);
	char exe[PATH_MAX];
	ssize_t len;
	int w;

	if (env && *env) {
		w = snprintf(out, n, "%s", env);
		return w >= 0 && (size_t)w < n ? SG_OK : SG_EINVAL;
	}
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (len > 0) {
		char *slash;

		exe[len] = '\0';
		if ((slash = strrchr(exe, '/'))) {
			*slash = '\0';
			w = snprintf(out, n, "%s/modules", exe);
			if (w >= 0 && (size_t)w < n && mod_is_dir(out))
				return SG_OK;
		}
	}
	w = snprintf(out, n, "%s", SG_MODULE_DIR);
	return w >= 0 && (size_t)w < n ? SG_OK : SG_EINVAL;
}

/* Open dir/file and check its table; NULL with eb. */
static const struct sg_module_head *mod_open(const char *file, const char *symbol, uint32_t abi,
					     size_t size, const char *who, struct sg_errbuf *eb)
{
	char dir[PATH_MAX], path[PATH_MAX + 64];
	const struct sg_module_head *h;
	const char *why;
	void *dl;

	if (sg_module_dir(dir, sizeof(dir)) != SG_OK) {
		sg_errf(eb, SG_ECONFIG, "%s needs %s: $%s is too long", who, file,
			SG_MODULE_DIR_ENV);
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if (!(dl = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		size_t n = strlen(path);

		/* dlerror() names the file first, mostly: say it once. */
		why = dlerror();
		if (why && !strncmp(why, path, n) && !strncmp(why + n, ": ", 2))
			why += n + 2;
		sg_errf(eb, SG_ECONFIG, "%s needs %s: %s", who, path, why ? why : "cannot load it");
		return NULL;
	}
	dlerror();
	h = dlsym(dl, symbol);
	if (!h) {
		why = dlerror();
		sg_errf(eb, SG_ECONFIG, "%s needs %s: no table %s in it (%s)", who, path, symbol,
			why ? why : "a null symbol");
	} else if (!h->version || strcmp(h->version, sg_module_build_version)) {
		sg_errf(eb, SG_ECONFIG,
			"%s needs %s: it is from sensorgate %s, this is %s (install the modules "
			"of this build)",
			who, path, h->version ? h->version : "(none)", sg_module_build_version);
		h = NULL;
	} else if (h->abi != abi || h->size != size) {
		sg_errf(eb, SG_ECONFIG,
			"%s needs %s: its table %s has ABI %u and %u bytes, this build wants %u "
			"and %zu",
			who, path, symbol, (unsigned)h->abi, (unsigned)h->size, (unsigned)abi,
			size);
		h = NULL;
	}
	if (!h)
		dlclose(dl);
	return h;
}

const void *sg_module_table(const char *file, const char *symbol, uint32_t abi, size_t size,
			    const char *who, struct sg_errbuf *eb)
{
	const struct sg_module_head *h = NULL;

	pthread_mutex_lock(&mod_lock);
	for (size_t i = 0; i < mod_n && !h; i++)
		if (!strcmp(mod_loaded[i].file, file))
			h = mod_loaded[i].table;
	if (!h && mod_n < MOD_MAX && strlen(file) < sizeof(mod_loaded[0].file)) {
		h = mod_open(file, symbol, abi, size, who, eb);
		if (h) {
			snprintf(mod_loaded[mod_n].file, sizeof(mod_loaded[0].file), "%s", file);
			mod_loaded[mod_n++].table = h;
		}
	} else if (!h) {
		sg_errf(eb, SG_ECONFIG, "%s needs %s: more modules than the loader keeps", who,
			file);
	}
	pthread_mutex_unlock(&mod_lock);
	return h;
}
