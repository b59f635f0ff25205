/*
 * decode.h - Modbus value codec: register words <-> typed values, with the
 * four byte/word orders, done by our own code (libmodbus's float helpers
 * are not used: their order names have been wrong across releases).
 *
 * Registers arrive as 16-bit words in request order, each word the two
 * bytes the device sent (high byte first on the wire).  The order names
 * the bytes of the value, most significant first, as the device stores
 * them: ABCD is big endian (the Modbus default), CDAB swaps the words
 * (registers are reversed, bytes kept), BADC swaps the bytes inside each
 * word, DCBA does both (full little endian).  The rule is the same for
 * every width: 16-bit types only see the byte swap; 64-bit CDAB reverses
 * all four registers; strings reverse registers and/or swap bytes alike.
 *
 * Pure functions, no allocation, any thread.
 */
#ifndef SG_MB_DECODE_H
#define SG_MB_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "drivers/driver.h"

enum mb_type {
	MB_T_U16,
	MB_T_I16,
	MB_T_U32,
	MB_T_I32,
	MB_T_U64,
	MB_T_I64,
	MB_T_F32,
	MB_T_F64,
	MB_T_BOOL,
	MB_T_BIT,
	MB_T_STRING,
};
/* NULL-terminated names, in enum order (config enums). */
extern const char *const mb_type_names[];

enum mb_order { MB_O_ABCD, MB_O_CDAB, MB_O_BADC, MB_O_DCBA };
extern const char *const mb_order_names[];

#define MB_STRING_MAX_REGS 64

/* Registers a value of this type occupies (strings: nregs as given). */
int mb_type_regs(enum mb_type t, int string_regs);

/* Reorder n words (n <= 64) from device order into big-endian bytes:
 * out receives 2n bytes, most significant first. */
void mb_words_to_be(const uint16_t *w, int n, enum mb_order o, uint8_t *out);
/* The inverse: big-endian bytes -> n words in device order. */
void mb_be_to_words(const uint8_t *be, int n, enum mb_order o, uint16_t *w);

/*
 * Decode one value from register words w (n words as mb_type_regs says).
 * bit: the bit number for MB_T_BIT (0 = least significant).  Strings are
 * written to strbuf (strcap >= 2n+1 bytes), cut at the first NUL and
 * trailing spaces removed; v->s points into strbuf.  Integers come out
 * as SG_VAL_UINT / SG_VAL_INT, floats as SG_VAL_DOUBLE, bool and bit as
 * SG_VAL_BOOL.  Returns SG_OK or SG_EINVAL (bad n or bit).
 */
int mb_decode(enum mb_type t, enum mb_order o, const uint16_t *w, int n, int bit, char *strbuf,
	      size_t strcap, struct sg_value *v);

/* Encode (the simulator, tests): a number for numeric types, bool for
 * BOOL/BIT (a BIT sets or clears one bit of *w, keeping the others), text
 * for STRING (padded with NULs).  Integers are rounded and saturated. */
int mb_encode(enum mb_type t, enum mb_order o, double num, const char *text, int bit, uint16_t *w,
	      int n);

/* Apply scale and offset: an identity keeps integers exact, anything else
 * yields a double rounded to 15 significant digits.  Bool, string and
 * absent values pass through. */
void mb_scale(struct sg_value *v, double scale, double offset);

/* Does raw (already unscaled) fit type t once rounded?  Floats take any
 * value (f32 saturates to infinity), bool and bit any number. */
bool mb_fits(enum mb_type t, double raw);

/* d rounded to 15 significant digits (no binary scaling artefacts). */
double mb_round15(double d);

/* The value as a double for deadband checks; false if not numeric. */
bool mb_value_num(const struct sg_value *v, double *out);

#endif
