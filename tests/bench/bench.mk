# sensorgate benchmarks (issue 7), included from the top-level Makefile.
#
#   make bench        every scenario against a real local Kafka broker,
#                     3 runs each (median); writes bench/results/DATE.md,
#                     .json and .svg.  10-20 minutes.  BENCH_ARGS= passes
#                     options to tests/bench/bench.py (e.g. --runs 5,
#                     --only produce,spool).
#   make bench-smoke  ~30 s: one short scenario end to end; checks that it
#                     ran (not how fast), results under $(BUILD)/bench-smoke.
#
# Both install missing Debian packages first (like `make test`), so a
# fresh machine needs no hand steps; a tool that still is missing makes
# its scenario "not run: <reason>" in the results.
#
# The helper programs are built here from tests/bench/*.c:
#   spool_bench   the gateway's spool (links $(BUILD)/libsg.a)
#   spool_ref     plain write + fdatasync loop, the spool's reference
#   modbus_plain  plain libmodbus read loop, the Modbus driver's reference
#   hotpath       the per-event functions in a loop, for callgrind's
#                 instruction counts (tests/bench/hotpath.sh)
# and, for `make bench` only, the gateway once more with ALLOCATOR=mimalloc
# in $(BUILD)/mimalloc/, which the produce scenario measures beside the
# default build.

BENCH_BIN := $(BUILD)/bench/spool_bench $(BUILD)/bench/spool_ref $(BUILD)/bench/modbus_plain \
             $(BUILD)/bench/hotpath
BENCH_ARGS ?=

$(BUILD)/bench/spool_bench: tests/bench/spool_bench.c $(BUILD)/libsg.a
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsg.a $(LDLIBS)

$(BUILD)/bench/hotpath: tests/bench/hotpath.c $(BUILD)/libsg.a
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsg.a $(LDLIBS)

$(BUILD)/bench/spool_ref: tests/bench/spool_ref.c
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $<

$(BUILD)/bench/modbus_plain: tests/bench/modbus_plain.c
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(shell $(PKG_CONFIG) --libs libmodbus)

bench-tools: all $(BENCH_BIN)

bench: .deps-ok
	$(Q)$(MAKE) --no-print-directory bench-tools
	$(Q)$(MAKE) --no-print-directory BUILD=$(BUILD)/mimalloc ALLOCATOR=mimalloc $(BUILD)/mimalloc/sensorgate
	$(Q)SG_BUILD=$(abspath $(BUILD)) python3 tests/bench/bench.py --build $(BUILD) $(BENCH_ARGS)

bench-smoke: .deps-ok
	$(Q)$(MAKE) --no-print-directory bench-tools
	$(Q)SG_BUILD=$(abspath $(BUILD)) python3 tests/bench/bench.py --build $(BUILD) --smoke

.PHONY: bench-tools
