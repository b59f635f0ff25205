# sensorgate - one entry point for build, run, test, install.
#
#   make            build build/sensorgate
#   make run        install missing packages, build, run config/demo.yaml
#   make test       unit + driver + integration tests (real mosquitto, Kafka)
#   make test-asan  the same suite under ASan + UBSan
#   make test-docs  every plain-process step of the tutorial (docs/tutorial/)
#   make bench      benchmarks (not part of test)
#   make install    PREFIX=/usr/local DESTDIR= (LIBDIR, MODULEDIR: the modules)
#   make deb        Debian package, ARCH=amd64|arm64|armhf (cross/cross.mk: also
#                   cross, test-cross, test-gpio-kernel)
#   ALLOCATOR=mimalloc  link libmimalloc (faster at high rates, more RSS;
#                   docs/design.md); the default is glibc's malloc
#   V=1             show full command lines

CC      ?= cc
NM      ?= nm
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
# Where an installed sensorgate loads its modules from (gateway/base/module.h).
MODULEDIR ?= $(LIBDIR)/sensorgate
BUILD   ?= build
PKG_CONFIG ?= pkg-config
# Every library of the build (compile flags; cross/build.sh and the
# packaging tests read this line) ...
PKGS    := rdkafka libfyaml libmodbus libmosquitto libgpiod sqlite3 libevent libsystemd libcrypto avro-c libcurl jansson
# ... and the ones only a loadable module links: the executable does not.
AVRO_PKGS   := avro-c libcurl jansson
SQLITE_PKGS := sqlite3
CORE_PKGS   := $(filter-out $(AVRO_PKGS) $(SQLITE_PKGS),$(PKGS))

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wno-missing-field-initializers \
           -Wpointer-arith -Wformat=2 -Wvla
OPT     ?= -O2 -g
CFLAGS  ?=
SANITIZE ?=
ALL_CFLAGS := -std=gnu11 $(OPT) $(WARN) $(SANITIZE) -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -MMD -MP \
              -I. $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null) \
              -DSG_GPIOD_MAJOR=$(shell $(PKG_CONFIG) --modversion libgpiod 2>/dev/null | cut -d. -f1) \
              $(CFLAGS)
# The allocator: mimalloc takes malloc over for the whole process, the
# libraries included (librdkafka allocates and frees a message and its
# headers per record).  ALLOCATOR=libc keeps glibc's; the sanitizers
# bring their own.
ALLOCATOR ?= libc
ifneq ($(SANITIZE),)
ALLOCATOR := libc
endif
ALLOC_LIBS := $(if $(filter mimalloc,$(ALLOCATOR)),-lmimalloc)
LDLIBS  := $(ALLOC_LIBS) $(shell $(PKG_CONFIG) --libs $(CORE_PKGS) 2>/dev/null) -lpthread -lm
AVRO_LIBS   := $(shell $(PKG_CONFIG) --libs $(AVRO_PKGS) 2>/dev/null)
SQLITE_LIBS := $(shell $(PKG_CONFIG) --libs $(SQLITE_PKGS) 2>/dev/null)
LDFLAGS ?=

ifeq ($(V),1)
Q :=
msg = @true
else
Q := @
msg = @printf '  %-6s %s\n' $(1) $(2)
endif

VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo 0.1.0)

# The loadable modules (gateway/base/module.h): kafka.format avro and the
# sink's SQLite output, each a shared object in $(BUILD)/modules/.
AVRO_SRC   := $(filter-out gateway/schema/schema_load.c,$(wildcard gateway/schema/*.c))
SQLITE_SRC := gateway/sink/sqlite_out.c
AVRO_OBJ   := $(patsubst %.c,$(BUILD)/%.o,$(AVRO_SRC))
SQLITE_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(SQLITE_SRC))
MOD_OBJ    := $(AVRO_OBJ) $(SQLITE_OBJ)
MODULES    := $(BUILD)/modules/sensorgate-avro.so $(BUILD)/modules/sensorgate-sqlite.so

CORE_SRC   := $(filter-out gateway/cli/main.c $(AVRO_SRC) $(SQLITE_SRC),$(wildcard gateway/*/*.c))
DRIVER_SRC := $(wildcard drivers/*.c drivers/*/*.c)
LIB_OBJ    := $(patsubst %.c,$(BUILD)/%.o,$(CORE_SRC) $(DRIVER_SRC))
MAIN_OBJ   := $(BUILD)/gateway/cli/main.o
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
UNIT_BIN   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TEST_LIB   := $(patsubst %.c,$(BUILD)/%.o,$(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c)))
TOOL_SRC   := $(wildcard tests/tools/*.c)
TOOL_BIN   := $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(TOOL_SRC))

.PHONY: all run test test-unit test-asan test-docs deps install clean format docs \
        check-format bench bench-smoke
all: $(BUILD)/sensorgate $(MODULES)

$(BUILD)/%.o: %.c
	$(call msg,CC,$<)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

# The version string lives in one generated header, rewritten only when
# it changes, so a new commit rebuilds the two files that print it.
$(BUILD)/version.h: FORCE
	@mkdir -p $(BUILD)
	@printf '#define SG_VERSION "%s"\n' '$(VERSION)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
SG_VERSIONED := $(BUILD)/gateway/cli/main.o $(BUILD)/gateway/view/view.o $(BUILD)/gateway/core/gateway.o \
                $(BUILD)/gateway/base/module.o $(BUILD)/gateway/schema/avro_table.o $(SQLITE_OBJ)
$(SG_VERSIONED): $(BUILD)/version.h
$(SG_VERSIONED): ALL_CFLAGS += -include $(BUILD)/version.h
.PHONY: FORCE

$(BUILD)/libsg.a: $(LIB_OBJ)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# MODULEDIR the same way, so `make install PREFIX=...` after `make`
# rebuilds the loader with the directory it installs to.
$(BUILD)/moduledir.h: FORCE
	@mkdir -p $(BUILD)
	@printf '#define SG_MODULE_DIR "%s"\n' '$(MODULEDIR)' > $@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(BUILD)/gateway/base/module.o: $(BUILD)/moduledir.h
$(BUILD)/gateway/base/module.o: ALL_CFLAGS += -include $(BUILD)/moduledir.h

# A module is position-independent code that exports its table only
# (a version script); what it uses from the core is resolved against the
# executable at dlopen.
$(MOD_OBJ): ALL_CFLAGS += -fPIC
$(MOD_OBJ): Makefile
$(BUILD)/ld/sensorgate-avro.ver $(BUILD)/ld/sensorgate-sqlite.ver: Makefile
	@mkdir -p $(dir $@)
	@printf '{ global: %s; local: *; };\n' '$(TABLE)' > $@
$(BUILD)/ld/sensorgate-avro.ver: TABLE := sg_avro_module
$(BUILD)/ld/sensorgate-sqlite.ver: TABLE := sg_sqlite_module
$(BUILD)/modules/sensorgate-avro.so: $(AVRO_OBJ) $(BUILD)/ld/sensorgate-avro.ver
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -shared $(SANITIZE) $(LDFLAGS) -Wl,--version-script=$(filter %.ver,$^) \
	  -o $@ $(filter %.o,$^) $(AVRO_LIBS)
$(BUILD)/modules/sensorgate-sqlite.so: $(SQLITE_OBJ) $(BUILD)/ld/sensorgate-sqlite.ver
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) -shared $(SANITIZE) $(LDFLAGS) -Wl,--version-script=$(filter %.ver,$^) \
	  -o $@ $(filter %.o,$^) $(SQLITE_LIBS)

# The executable exports exactly the core symbols the modules use (the
# ones they leave undefined that libsg.a defines), and links them in.
$(BUILD)/ld/core-exports.txt: $(MOD_OBJ) $(BUILD)/libsg.a
	@mkdir -p $(dir $@)
	$(Q)$(NM) -u --format=just-symbols $(MOD_OBJ) | LC_ALL=C sort -u > $@.undef
	$(Q)$(NM) -g --defined-only --format=just-symbols $(BUILD)/libsg.a | LC_ALL=C sort -u > $@.def
	$(Q)LC_ALL=C comm -12 $@.undef $@.def > $@ && rm -f $@.undef $@.def
$(BUILD)/ld/core-exports.dyn: $(BUILD)/ld/core-exports.txt
	$(Q){ echo '{'; sed 's/.*/  &;/' $<; echo '};'; } > $@
$(BUILD)/ld/core-exports.rsp: $(BUILD)/ld/core-exports.txt
	$(Q)sed 's/.*/-Wl,--undefined=&/' $< > $@

$(BUILD)/sensorgate: $(MAIN_OBJ) $(BUILD)/libsg.a $(BUILD)/ld/core-exports.dyn $(BUILD)/ld/core-exports.rsp
	$(call msg,LD,$@)
	$(Q)$(CC) $(SANITIZE) $(LDFLAGS) -Wl,--dynamic-list=$(BUILD)/ld/core-exports.dyn \
	  @$(BUILD)/ld/core-exports.rsp -o $@ $(MAIN_OBJ) $(BUILD)/libsg.a $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(TEST_LIB) $(BUILD)/libsg.a
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SANITIZE) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The Avro tests link the module's objects themselves (avro_module.h).
AVRO_TESTS := $(BUILD)/tests/test_avro $(BUILD)/tests/test_avro_registry
$(AVRO_TESTS): $(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(TEST_LIB) $(AVRO_OBJ) $(BUILD)/libsg.a
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SANITIZE) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(AVRO_LIBS)

$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $(BUILD)/libsg.a
	$(call msg,LD,$@)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(SANITIZE) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# Install missing Debian packages (apt-get as root or through sudo).
deps:
	$(Q)tests/deps.sh

.deps-ok: tests/deps.sh
	$(Q)tests/deps.sh --check-or-install
	$(Q)touch $@

run: .deps-ok
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(BUILD)/sensorgate run -c config/demo.yaml

test: .deps-ok
	$(Q)$(MAKE) --no-print-directory all $(UNIT_BIN) $(TOOL_BIN)
	$(Q)if command -v clang >/dev/null; then \
	  echo "  clang build (warnings as errors)"; \
	  $(MAKE) --no-print-directory -s CC=clang BUILD=build-clang all; fi
	$(Q)BUILD=$(BUILD) tests/run.sh

# Every plain-process step of docs/tutorial/, run and its output checked
# (tests/docs/run.py; CHAPTERS="04 06" for some).
test-docs: .deps-ok all
	$(Q)python3 tests/docs/run.py $(CHAPTERS)

test-unit: all $(UNIT_BIN)
	$(Q)BUILD=$(BUILD) tests/run.sh --unit-only

test-asan: .deps-ok
	$(Q)$(MAKE) --no-print-directory BUILD=build-asan OPT="-O1 -g -fno-omit-frame-pointer" \
	  SANITIZE="-fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	  all $(patsubst $(BUILD)/%,build-asan/%,$(UNIT_BIN) $(TOOL_BIN))
	$(Q)BUILD=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 tests/run.sh

docs: all
	$(Q)$(BUILD)/sensorgate config-doc > docs/config.md
	$(Q)$(BUILD)/sensorgate config-doc --metrics > docs/metrics.md

install: all
	$(call msg,INSTALL,$(DESTDIR)$(BINDIR)/sensorgate)
	$(Q)install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PREFIX)/share/sensorgate/examples \
	  $(DESTDIR)$(MODULEDIR)
	$(Q)install -m 0755 $(BUILD)/sensorgate $(DESTDIR)$(BINDIR)/sensorgate
	$(Q)install -m 0644 $(MODULES) $(DESTDIR)$(MODULEDIR)/
	$(Q)install -m 0644 config/*.yaml $(DESTDIR)$(PREFIX)/share/sensorgate/examples/
	$(Q)if [ -f cross/sensorgate.service ]; then \
	  install -m 0644 cross/sensorgate.service $(DESTDIR)$(PREFIX)/share/sensorgate/; fi

format:
	$(Q)clang-format -i $$(git ls-files '*.c' '*.h')

check-format:
	$(Q)clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	$(Q)rm -rf build build-asan build-clang .deps-ok

-include tests/kafka/kafka.mk
-include tests/registry/registry.mk
-include cross/cross.mk
-include tests/bench/bench.mk
-include tests/fuzz/fuzz.mk
-include $(LIB_OBJ:.o=.d) $(MAIN_OBJ:.o=.d) $(MOD_OBJ:.o=.d) \
         $(patsubst $(BUILD)/tests/%,$(BUILD)/tests/unit/%.d,$(AVRO_TESTS))
