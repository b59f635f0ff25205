# Fuzz targets for the MQTT driver's JSON code (issue 14), included from
# the top-level Makefile.
#
#   make fuzz         each target for FUZZ_TIME seconds (default 60) with
#                     libFuzzer (coverage-guided; clang with its runtime,
#                     Debian's libclang-rt-dev), ASan and UBSan; the corpus
#                     grows in $(BUILD)/fuzz/corpus-TARGET, failing inputs
#                     land in $(BUILD)/fuzz/ and fail the target.
#   make fuzz-smoke   the short slice `make test` runs: each target for
#                     FUZZ_SMOKE_TIME seconds (default 10).
#
# Targets (tests/fuzz/fuzz_*.c): json (the tape parser and every question
# asked of a tape), map (one message through the whole mapper against a
# checking fake emit), time (device-time parsing).  Seeds: tests/fuzz/corpus/
# and the device fixtures' payloads.  Without libFuzzer the same targets
# link with tests/fuzz/standalone.c, a replay and random-mutation driver.
# The targets build from the few sources they need, so a broken file
# elsewhere in the tree does not stop them.

FUZZ_CC         ?= $(if $(shell command -v clang),clang,$(CC))
FUZZ_BUILD      := $(BUILD)/fuzz
FUZZ_TIME       ?= 60
FUZZ_SMOKE_TIME ?= 10
FUZZ_TARGETS    := json map time
FUZZ_SRC := drivers/mqtt/json.c drivers/mqtt/jsonptr.c drivers/mqtt/devtime.c \
            drivers/mqtt/fanout.c drivers/mqtt/message.c drivers/mqtt/rules.c drivers/mqtt/batch.c \
            gateway/base/buf.c gateway/base/err.c gateway/base/log.c gateway/base/clock.c \
            gateway/base/mem.c gateway/core/metrics.c tests/fuzz/stubs.c
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer $(WARN) -D_GNU_SOURCE -I. \
               $(shell $(PKG_CONFIG) --cflags libmosquitto 2>/dev/null)
# libFuzzer if this compiler links it, else the standalone driver.
FUZZ_ENGINE := $(shell printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n)\
{(void)d;(void)n;return 0;}' | $(FUZZ_CC) -x c -fsanitize=fuzzer -o /dev/null - \
>/dev/null 2>&1 && echo libfuzzer || echo standalone)
ifeq ($(FUZZ_ENGINE),libfuzzer)
FUZZ_OBJ_SAN  := $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_LINK_SAN := $(FUZZ_SAN) -fsanitize=fuzzer
FUZZ_MAIN     :=
else
FUZZ_OBJ_SAN  := $(FUZZ_SAN)
FUZZ_LINK_SAN := $(FUZZ_SAN)
FUZZ_MAIN     := $(FUZZ_BUILD)/obj/tests/fuzz/standalone.o
endif
FUZZ_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_SRC))
FUZZ_BIN := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))

$(FUZZ_BUILD)/obj/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_OBJ_SAN) -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_OBJ) $(FUZZ_MAIN)
	$(call msg,LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_LINK_SAN) -o $@ $^ -lpthread -lm

fuzz-build: $(FUZZ_BIN)

fuzz-seeds:
	$(Q)python3 tests/fuzz/seeds.py $(FUZZ_BUILD)/seeds-json
	$(Q)rm -rf $(FUZZ_BUILD)/seeds-time && mkdir -p $(FUZZ_BUILD)/seeds-time && \
	  cp tests/fuzz/corpus/time/* $(FUZZ_BUILD)/seeds-time/

fuzz: fuzz-build fuzz-seeds
	$(Q)for t in $(FUZZ_TARGETS); do tests/fuzz/run.sh $(FUZZ_BUILD) $$t $(FUZZ_TIME) || exit 1; done

fuzz-smoke: fuzz-build fuzz-seeds
	$(Q)for t in $(FUZZ_TARGETS); do \
	  tests/fuzz/run.sh $(FUZZ_BUILD) $$t $(FUZZ_SMOKE_TIME) || exit 1; done

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-seeds
.SECONDARY: $(FUZZ_OBJ) $(FUZZ_MAIN) $(patsubst %,$(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o,$(FUZZ_TARGETS))
-include $(FUZZ_OBJ:.o=.d)
