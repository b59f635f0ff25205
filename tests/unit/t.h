/*
 * t.h - the unit-test harness: TEST(name) functions collected by a
 * constructor, CHECK()/CHECK_EQ() that record failures with file:line, and
 * a main() (in t.c) that runs all tests or those named on the command
 * line and ends with the line "N passed, N failed".
 */
#ifndef SG_T_H
#define SG_T_H

#include <stdio.h>
#include <string.h>

void t_register(const char *name, void (*fn)(void));
void t_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A fresh empty directory for this test (removed at exit). */
const char *t_tmpdir(void);

#define TEST(name)                                                                                 \
	static void name(void);                                                                    \
	__attribute__((constructor)) static void name##_reg(void)                                  \
	{                                                                                          \
		t_register(#name, name);                                                           \
	}                                                                                          \
	static void name(void)

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			t_fail(__FILE__, __LINE__, "CHECK(%s)", #cond);                            \
	} while (0)

#define CHECK_EQ(a, b)                                                                             \
	do {                                                                                       \
		long long _a = (long long)(a), _b = (long long)(b);                                \
		if (_a != _b)                                                                      \
			t_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", #a, _a, #b,  \
			       _b);                                                                \
	} while (0)

#define CHECK_STR(a, b)                                                                            \
	do {                                                                                       \
		const char *_a = (a), *_b = (b);                                                   \
		if (!_a || !_b || strcmp(_a, _b))                                                  \
			t_fail(__FILE__, __LINE__, "%s == \"%s\", expected \"%s\"", #a,            \
			       _a ? _a : "(null)", _b ? _b : "(null)");                            \
	} while (0)

#endif
