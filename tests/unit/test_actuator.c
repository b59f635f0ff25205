/*
 * test_actuator.c - parsing of command values for driver writes.
 */
#include <string.h>

#include "drivers/driver.h"
#include "gateway/sink/actuator.h"
#include "t.h"

TEST(command_values)
{
	struct sg_value v;

	sg_actuator_parse_value("true", 4, &v);
	CHECK(v.type == SG_VAL_BOOL && v.b);
	sg_actuator_parse_value("false", 5, &v);
	CHECK(v.type == SG_VAL_BOOL && !v.b);
	sg_actuator_parse_value("-42", 3, &v);
	CHECK(v.type == SG_VAL_INT && v.i == -42);
	sg_actuator_parse_value("21.5", 4, &v);
	CHECK(v.type == SG_VAL_DOUBLE && v.d == 21.5);
	sg_actuator_parse_value("1e400", 5, &v); /* overflows: stays text */
	CHECK(v.type == SG_VAL_STR);
	sg_actuator_parse_value("open", 4, &v);
	CHECK(v.type == SG_VAL_STR && v.s.len == 4 && !memcmp(v.s.p, "open", 4));
	sg_actuator_parse_value("", 0, &v);
	CHECK(v.type == SG_VAL_STR && v.s.len == 0);
	/* Not NUL-terminated input is read only up to n. */
	sg_actuator_parse_value("12345", 2, &v);
	CHECK(v.type == SG_VAL_INT && v.i == 12);
}
