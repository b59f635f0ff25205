/*
 * standalone.c - a main() for the fuzz targets where libFuzzer is not
 * available (a compiler without -fsanitize=fuzzer): it runs the target on
 * every file of the corpus directories given, then on random mutations of
 * them (bit flips, byte and token insertions, deletions, repeats, splices)
 * for -max_total_time seconds or -runs inputs.  Not coverage-guided, so
 * weaker than libFuzzer, but it runs the same invariants under ASan/UBSan.
 * A failing input is written to <artifact_prefix>crash-<n> before the
 * target aborts.  Arguments follow libFuzzer's: -max_total_time=S,
 * -runs=N, -seed=N, -artifact_prefix=P, then directories; other -flags
 * are ignored.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fuzz.h"

#define SA_MAX_INPUT (64 << 10)
#define MAX_SEEDS    4096

static uint8_t *seeds[MAX_SEEDS];
static size_t seed_len[MAX_SEEDS], nseeds;
static const uint8_t *cur;
static size_t cur_len;
static char crash_path[512];

static const char *const tokens[] = {"{",
				     "}",
				     "[",
				     "]",
				     ",",
				     ":",
				     "\"",
				     "\\u",
				     "\\ud800",
				     "true",
				     "false",
				     "null",
				     "NaN",
				     "-Infinity",
				     "1e400",
				     "0.5",
				     "-0",
				     "\"a\":",
				     "\xc0\xaf",
				     "\xed\xa0\x80",
				     "\xf4\x90\x80\x80",
				     "2024-05-01T12:00:00Z",
				     "+02:00",
				     "1714564800.52"};

static void on_abort(int sig)
{
	FILE *f = fopen(crash_path, "wb");

	if (f) {
		fwrite(cur, 1, cur_len, f);
		fclose(f);
		fprintf(stderr, "standalone: failing input written to %s\n", crash_path);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void add_seed(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	size_t n;

	if (!f || nseeds == MAX_SEEDS)
		goto out;
	b = malloc(SA_MAX_INPUT);
	n = fread(b, 1, SA_MAX_INPUT, f);
	seeds[nseeds] = b;
	seed_len[nseeds++] = n;
out:
	if (f)
		fclose(f);
}

static void add_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[1024];

	while (d && (e = readdir(d))) {
		struct stat st;

		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (e->d_name[0] != '.' && stat(p, &st) == 0 && S_ISREG(st.st_mode))
			add_seed(p);
	}
	if (d)
		closedir(d);
}

static size_t mutate(uint8_t *b, size_t n, unsigned *rng)
{
	int steps = 1 + rand_r(rng) % 4;

	while (steps--) {
		size_t at = n ? (size_t)rand_r(rng) % (n + 1) : 0;

		switch (rand_r(rng) % 6) {
		case 0: /* flip a bit */
			if (n)
				b[at % n] ^= (uint8_t)(1u << (rand_r(rng) % 8));
			break;
		case 1: /* a random byte */
			if (n < SA_MAX_INPUT) {
				memmove(b + at + 1, b + at, n - at);
				b[at] = (uint8_t)rand_r(rng);
				n++;
			}
			break;
		case 2: { /* a token */
			const char *t = tokens[rand_r(rng) % (sizeof(tokens) / sizeof(tokens[0]))];
			size_t tl = strlen(t);
			if (n + tl <= SA_MAX_INPUT) {
				memmove(b + at + tl, b + at, n - at);
				memcpy(b + at, t, tl);
				n += tl;
			}
			break;
		}
		case 3: /* delete a run */
			if (n) {
				size_t k = 1 + (size_t)rand_r(rng) % 8;
				at %= n;
				k = k > n - at ? n - at : k;
				memmove(b + at, b + at + k, n - at - k);
				n -= k;
			}
			break;
		case 4: { /* repeat a run (deep nesting, long numbers) */
			size_t k = 1 + (size_t)rand_r(rng) % 4,
			       times = 1 + (size_t)rand_r(rng) % 200;
			if (n && at < n && at + k <= n && n + k * times <= SA_MAX_INPUT) {
				memmove(b + at + k * times, b + at, n - at);
				for (size_t i = 1; i < times; i++)
					memcpy(b + at + k * i, b + at + k * times, k);
				n += k * times;
			}
			break;
		}
		default: /* splice another seed in */
			if (nseeds) {
				size_t s = (size_t)rand_r(rng) % nseeds, k = seed_len[s];
				if (n + k <= SA_MAX_INPUT) {
					memmove(b + at + k, b + at, n - at);
					memcpy(b + at, seeds[s], k);
					n += k;
				}
			}
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	double max_time = 10;
	long runs = -1, done = 0;
	unsigned rng = (unsigned)time(NULL);
	const char *prefix = "./";
	uint8_t *b = malloc(SA_MAX_INPUT);
	struct timespec t0, t;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "-max_total_time=", 16))
			max_time = atof(argv[i] + 16);
		else if (!strncmp(argv[i], "-runs=", 6))
			runs = atol(argv[i] + 6);
		else if (!strncmp(argv[i], "-seed=", 6))
			rng = (unsigned)atol(argv[i] + 6);
		else if (!strncmp(argv[i], "-artifact_prefix=", 17))
			prefix = argv[i] + 17;
		else if (argv[i][0] != '-')
			add_dir(argv[i]);
	}
	signal(SIGABRT, on_abort);
	for (size_t i = 0; i < nseeds; i++, done++) {
		cur = seeds[i];
		cur_len = seed_len[i];
		snprintf(crash_path, sizeof(crash_path), "%scrash-seed-%zu", prefix, i);
		LLVMFuzzerTestOneInput(cur, cur_len);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;; done++) {
		size_t n = 0;

		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((runs >= 0 && done >= runs) ||
		    (double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >=
			max_time)
			break;
		if (nseeds) {
			size_t s = (size_t)rand_r(&rng) % nseeds;
			memcpy(b, seeds[s], seed_len[s]);
			n = seed_len[s];
		}
		n = mutate(b, n, &rng);
		cur = b;
		cur_len = n;
		snprintf(crash_path, sizeof(crash_path), "%scrash-%ld", prefix, done);
		LLVMFuzzerTestOneInput(b, n);
	}
	printf("standalone: %ld inputs (%zu seeds), no failure\n", done, nseeds);
	for (size_t i = 0; i < nseeds; i++)
		free(seeds[i]);
	free(b);
	return 0;
}
