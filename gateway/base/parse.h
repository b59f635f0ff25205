/*
 * parse.h - strict parsers: the whole string must be consumed.  0 on success.
 */
#ifndef SG_PARSE_H
#define SG_PARSE_H

#include <stdbool.h>
#include <stdint.h>

int sg_parse_i64(const char *s, int64_t *out);
int sg_parse_double(const char *s, double *out);
int sg_parse_bool(const char *s, bool *out);
/* "250ms", "5s", "2m", "1h", or a bare number of milliseconds. */
int sg_parse_duration_ms(const char *s, int64_t *out);
/* "512", "64k", "16MiB", "1GB" (k/M/G are powers of 1024). */
int sg_parse_size(const char *s, int64_t *out);

#endif
