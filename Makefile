# pidsitter: a process babysitter that follows daemons across upgrades.
# make              build build/pidsitter
# make check        build and run every test; ends with "N passed, N failed"
# make check SAN=1  the same under AddressSanitizer and UBSan (in build-san/)
# make demo         watch pidsitter spawn, forward, re-adopt, upgrade and stop
# make install      PREFIX, DESTDIR, BINDIR, MANDIR as usual

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/pidsitter

ifeq ($(SAN),1)
BUILD ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
else
BUILD ?= build
SANFLAGS =
endif

CXX ?= g++
CC ?= cc
# -Os: a babysitter is never CPU-bound, and every page of its code is
# resident memory (make bench measures it against dumb-init's).
CXXFLAGS ?= -Os -g
CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Wshadow -Wformat=2
UV_CFLAGS := $(shell pkg-config --cflags libuv 2>/dev/null)
ALL_CXXFLAGS = -std=c++17 -fno-exceptions -fno-rtti $(WARN) $(UV_CFLAGS) \
	-D_GNU_SOURCE -ffunction-sections -fdata-sections -MMD -MP $(SANFLAGS) $(CXXFLAGS)
# libuv is always linked statically.  pidsitter itself is a static binary
# unless LINK=dynamic (or SAN=1, which needs the dynamic runtime): no
# shared libraries to map and relocate, about half the resident memory.
# (The linker warns that libuv's getpwuid_r needs NSS at run time;
# pidsitter never calls it, and reads /etc/passwd itself for owner names.)
ifeq ($(SAN),1)
LINK = dynamic
endif
LINK ?= static
UV_LIBS = -Wl,-Bstatic -luv_a -Wl,-Bdynamic -pthread -ldl
LDLIBS_ALL = -Wl,--gc-sections $(UV_LIBS) $(SANFLAGS) $(LDFLAGS)
ifeq ($(LINK),static)
PS_LDLIBS = -static -Wl,--gc-sections -luv_a -pthread $(LDFLAGS)
else
PS_LDLIBS = $(LDLIBS_ALL)
endif

SRC := $(sort $(wildcard src/*.cc))
LIB_OBJ := $(patsubst src/%.cc,$(BUILD)/obj/%.o,$(filter-out src/main.cc,$(SRC)))
UNIT_SRC := $(sort $(wildcard test/unit/*.cc))
INTEG_SRC := $(sort $(wildcard test/integration/*.cc))
UNIT_OBJ := $(patsubst test/%.cc,$(BUILD)/obj/test/%.o,$(UNIT_SRC))
INTEG_OBJ := $(patsubst test/%.cc,$(BUILD)/obj/test/%.o,$(INTEG_SRC))

# The tests may use exceptions (doctest's REQUIRE throws); src/ may not.
# No doctest signal handlers: the tests send signals (REFERENCE.md §5).
TEST_CXXFLAGS = -fexceptions -frtti -Isrc -Itest -DDOCTEST_CONFIG_NO_POSIX_SIGNALS

all: $(BUILD)/pidsitter

$(BUILD)/obj/%.o: src/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) -c -o $@ $<

$(BUILD)/obj/test/%.o: test/%.cc
	@mkdir -p $(dir $@)
	$(CXX) $(ALL_CXXFLAGS) $(TEST_CXXFLAGS) -c -o $@ $<

$(BUILD)/pidsitter: $(BUILD)/obj/main.o $(LIB_OBJ)
	$(CXX) -o $@ $^ $(PS_LDLIBS)

$(BUILD)/unit-tests: $(UNIT_OBJ) $(LIB_OBJ)
	$(CXX) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/integration-tests: $(INTEG_OBJ) $(LIB_OBJ)
	$(CXX) -o $@ $^ $(LDLIBS_ALL)

# The tableflip-style C daemon the tests and the demo drive.
$(BUILD)/fixture-daemon: test/fixture-daemon.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE $(WARN) $(CFLAGS) -o $@ $<

# A real tableflip daemon (Debian's golang-github-cloudflare-tableflip-dev).
$(BUILD)/tableflip-daemon: test/tableflip/main.go test/tableflip/build.sh
	sh test/tableflip/build.sh $@

TEST_PROGS = $(BUILD)/pidsitter $(BUILD)/unit-tests $(BUILD)/integration-tests \
	$(BUILD)/fixture-daemon $(BUILD)/tableflip-daemon

deps-build:
	@sh third_party/deps.sh build
deps-test:
	@sh third_party/deps.sh build test

check: deps-test
	@$(MAKE) --no-print-directory $(TEST_PROGS)
	@BUILD=$(BUILD) sh test/run-tests.sh

demo: deps-build
	@$(MAKE) --no-print-directory $(BUILD)/pidsitter $(BUILD)/fixture-daemon
	@BUILD=$(BUILD) sh test/demo.sh

# The unit tests under valgrind's memcheck: any error or leak fails.
valgrind: deps-test $(BUILD)/unit-tests
	valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible \
	    --quiet $(BUILD)/unit-tests

clean:
	rm -rf build build-san

.PHONY: all check demo clean deps-build deps-test valgrind

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/test/*/*.d)
-include bench/bench.mk
-include fuzz/fuzz.mk
