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
# checking fake emit), time (device-time parsing); spool_scan (the spool's
# frame scanner, cursor/epoch/tombstone decoders and segment layout),
# spool_open (spool recovery and the reader on a directory made of the
# input), config (the configuration loader), modbus (the Modbus value
# codec), rules (MQTT topic filters and templates).  Seeds: tests/fuzz/corpus/,
# the device fixtures' payloads, config/*.yaml and tests/fuzz/spool_seeds.py.
# Without libFuzzer the same targets link with tests/fuzz/standalone.c, a
# replay and random-mutation driver.  The targets build from the few
# sources they need, so a broken file elsewhere in the tree does not stop
# them.  `make fuzz` also runs the spool's power-cut simulation longer
# (tests/unit/test_spool_powercut.c, FUZZ_POWERCUTS cuts per workload).

FUZZ_CC         ?= $(if $(shell command -v clang),clang,$(CC))
FUZZ_BUILD      := $(BUILD)/fuzz
FUZZ_TIME       ?= 60
FUZZ_SMOKE_TIME ?= 10
FUZZ_TARGETS    := json map time
# Targets with their own sources (FUZZ_SRC_<target>), run FUZZ_OWN_SMOKE_TIME
# seconds each in the short slice.
FUZZ_OWN        := spool_scan spool_open config modbus rules
FUZZ_OWN_SMOKE_TIME ?= 4
FUZZ_POWERCUTS  ?= 20000
FUZZ_BASE_SRC   := gateway/base/buf.c gateway/base/err.c gateway/base/log.c \
                   gateway/base/clock.c gateway/base/mem.c gateway/base/crc32c.c \
                   gateway/base/fs.c gateway/base/parse.c gateway/core/metrics.c
FUZZ_SRC_spool_scan := gateway/spool/frame.c gateway/spool/layout.c $(FUZZ_BASE_SRC)
FUZZ_SRC_spool_open := $(wildcard gateway/spool/*.c) $(FUZZ_BASE_SRC)
FUZZ_SRC_config     := $(wildcard gateway/config/*.c) $(FUZZ_BASE_SRC)
FUZZ_SRC_modbus     := drivers/modbus/decode.c $(FUZZ_BASE_SRC)
FUZZ_SRC_rules      := drivers/mqtt/rules.c $(FUZZ_BASE_SRC)
FUZZ_LIBS_config    := $(shell $(PKG_CONFIG) --libs libfyaml libcrypto 2>/dev/null)
FUZZ_SRC := drivers/mqtt/json.c drivers/mqtt/jsonptr.c drivers/mqtt/devtime.c \
            drivers/mqtt/fanout.c drivers/mqtt/message.c drivers/mqtt/rules.c drivers/mqtt/batch.c \
            gateway/base/buf.c gateway/base/err.c gateway/base/log.c gateway/base/clock.c \
            gateway/base/mem.c gateway/core/metrics.c tests/fuzz/stubs.c
FUZZ_SAN    := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS := -std=gnu11 -O1 -g -fno-omit-frame-pointer $(WARN) -D_GNU_SOURCE -I. \
               $(shell $(PKG_CONFIG) --cflags libmosquitto libfyaml 2>/dev/null)
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
FUZZ_BIN := $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS) $(FUZZ_OWN))
FUZZ_OWN_OBJ := $(sort $(foreach t,$(FUZZ_OWN),$(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_SRC_$(t)))))

$(FUZZ_BUILD)/obj/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_OBJ_SAN) -MMD -MP -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_OBJ) $(FUZZ_MAIN)
	$(call msg,LD,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_LINK_SAN) -o $@ $^ -lpthread -lm

# An explicit rule per own target (it wins over the pattern above).
define FUZZ_OWN_RULE
$(FUZZ_BUILD)/fuzz_$(1): $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_$(1).o \
    $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(FUZZ_SRC_$(1))) $(FUZZ_MAIN)
	$$(call msg,LD,$$@)
	$$(Q)$$(FUZZ_CC) $$(FUZZ_LINK_SAN) -o $$@ $$^ $(FUZZ_LIBS_$(1)) -lpthread -lm
endef
$(foreach t,$(FUZZ_OWN),$(eval $(call FUZZ_OWN_RULE,$(t))))

fuzz-build: $(FUZZ_BIN)

fuzz-seeds:
	$(Q)python3 tests/fuzz/seeds.py $(FUZZ_BUILD)/seeds-json
	$(Q)rm -rf $(FUZZ_BUILD)/seeds-time && mkdir -p $(FUZZ_BUILD)/seeds-time && \
	  cp tests/fuzz/corpus/time/* $(FUZZ_BUILD)/seeds-time/
	$(Q)python3 tests/fuzz/spool_seeds.py $(FUZZ_BUILD)
	$(Q)cp tests/fuzz/corpus/spool_open/* $(FUZZ_BUILD)/seeds-spool_open/
	$(Q)for t in config rules; do rm -rf $(FUZZ_BUILD)/seeds-$$t && \
	  mkdir -p $(FUZZ_BUILD)/seeds-$$t && cp tests/fuzz/corpus/$$t/* $(FUZZ_BUILD)/seeds-$$t/; done
	$(Q)cp config/*.yaml $(FUZZ_BUILD)/seeds-config/

fuzz: fuzz-build fuzz-seeds $(BUILD)/tests/test_spool_powercut
	$(Q)for t in $(FUZZ_TARGETS) $(FUZZ_OWN); do \
	  tests/fuzz/run.sh $(FUZZ_BUILD) $$t $(FUZZ_TIME) || exit 1; done
	$(Q)echo "  POWER  $(FUZZ_POWERCUTS) cuts per workload"; \
	  SG_POWERCUTS=$(FUZZ_POWERCUTS) $(BUILD)/tests/test_spool_powercut | grep -E "survived|FAIL|passed"

fuzz-smoke: fuzz-build fuzz-seeds
	$(Q)for t in $(FUZZ_TARGETS); do \
	  tests/fuzz/run.sh $(FUZZ_BUILD) $$t $(FUZZ_SMOKE_TIME) || exit 1; done
	$(Q)for t in $(FUZZ_OWN); do \
	  tests/fuzz/run.sh $(FUZZ_BUILD) $$t $(FUZZ_OWN_SMOKE_TIME) || exit 1; done

.PHONY: fuzz fuzz-smoke fuzz-build fuzz-seeds
.SECONDARY: $(FUZZ_OBJ) $(FUZZ_OWN_OBJ) $(FUZZ_MAIN) \
            $(patsubst %,$(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o,$(FUZZ_TARGETS) $(FUZZ_OWN))
-include $(FUZZ_OBJ:.o=.d) $(FUZZ_OWN_OBJ:.o=.d) \
         $(patsubst %,$(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.d,$(FUZZ_TARGETS) $(FUZZ_OWN))
