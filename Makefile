# pidsitter: a process babysitter that follows daemons across upgrades.
# make              build build/pidsitter
# make check        build and run every test; ends with "N passed, N failed"
# make check SAN=1  the same under AddressSanitizer and UBSan (in build-san/)
# make valgrind     the unit tests under valgrind's memcheck
# make fuzz         libFuzzer harnesses (fuzz/fuzz.mk), FUZZ_SECONDS each
# make demo         watch pidsitter spawn, forward, re-adopt, upgrade and stop
# make install      PREFIX, DESTDIR, BINDIR, MANDIR as usual (make uninstall)
# make dist         build/pidsitter-VERSION.tar.gz, from git's HEAD
# make deb          the Debian package (debian/), into build/deb/

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
	-D_GNU_SOURCE -ffunction-sections -fdata-sections -MMD -MP $(SANFLAGS) $(CPPFLAGS) $(CXXFLAGS)
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
# No doctest signal handlers: the tests send signals, which doctest's own
# handlers (SIGINT, SIGTERM...) would catch.
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
deps-san:
	@sh third_party/deps.sh build san

check: deps-test
	@$(MAKE) --no-print-directory $(TEST_PROGS)
	@BUILD=$(BUILD) sh test/run-tests.sh

demo: deps-build
	@$(MAKE) --no-print-directory $(BUILD)/pidsitter $(BUILD)/fixture-daemon
	@BUILD=$(BUILD) sh test/demo.sh

# The unit tests under valgrind's memcheck: any error or leak fails.
# Debian 12's valgrind (3.19) does not know the pidfd_open and
# pidfd_send_signal system calls (it fails them with ENOSYS) and shows its
# own name in /proc/self/comm: the tests that need either (the FIFO one
# waits on a pidfd) are left to make check and make check SAN=1.
VALGRIND_TIMEOUT = 600
VALGRIND_SKIP = -tce='proc: reading this process,proc: reading a child*,proc: pidfds*,proc: pidfd_exit_status*,proc: proc_identify,proc: proc_descendants*' \
	-sce='a FIFO is refused*'
# The run is bounded (it takes under a minute): a test that stalls under
# valgrind fails here, with its name (test/bounded.sh), long before a CI
# limit.  valgrind runs one thread at a time, and a thread that makes
# system calls valgrind does not expect to block (renameat2, say) keeps
# the others waiting for most of its time slice at each of their own
# calls: a test's threads must each end by their own clock, not only when
# another thread tells them to.
valgrind: deps-san
	@$(MAKE) --no-print-directory $(BUILD)/unit-tests
	sh test/bounded.sh $(VALGRIND_TIMEOUT) $(BUILD)/valgrind.now \
	    valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,possible \
	    --quiet $(BUILD)/unit-tests $(VALGRIND_SKIP)

VERSION := $(shell sed -n 's/.*PIDSITTER_VERSION "\(.*\)".*/\1/p' src/settings.h)

# The binary, both man pages and the examples.  Not stripped: a
# distribution strips it and keeps the symbols apart itself.
install: $(BUILD)/pidsitter
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 \
	    $(DESTDIR)$(DOCDIR)/examples
	install -m 755 $(BUILD)/pidsitter $(DESTDIR)$(BINDIR)/pidsitter
	install -m 644 man/pidsitter.8 $(DESTDIR)$(MANDIR)/man8/pidsitter.8
	install -m 644 man/pidsitter.toml.5 $(DESTDIR)$(MANDIR)/man5/pidsitter.toml.5
	cp -R examples/. $(DESTDIR)$(DOCDIR)/examples/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pidsitter $(DESTDIR)$(MANDIR)/man8/pidsitter.8 \
	    $(DESTDIR)$(MANDIR)/man5/pidsitter.toml.5
	rm -rf $(DESTDIR)$(DOCDIR)/examples
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true

dist:
	@mkdir -p build
	git archive --format=tar.gz --prefix=pidsitter-$(VERSION)/ \
	    -o build/pidsitter-$(VERSION).tar.gz HEAD

# dpkg-buildpackage writes the package beside the source tree: moved into
# build/deb/.  debian/rules builds in debian/build (this build/ is left be).
deb:
	@sh third_party/deps.sh build pkg
	@v=$$(dpkg-parsechangelog -S Version); [ "$$v" = "$(VERSION)" ] || \
	    { echo "debian/changelog says $$v, src/settings.h $(VERSION)" >&2; exit 1; }
	dpkg-buildpackage -us -uc -b -tc --jobs-try=auto
	rm -rf build/deb && mkdir -p build/deb
	mv ../pidsitter_$(VERSION)_* build/deb/
	for f in ../pidsitter-dbgsym_$(VERSION)_*; do [ ! -e "$$f" ] || mv "$$f" build/deb/; done

clean:
	rm -rf build build-san

.PHONY: all check demo clean deps-build deps-test deps-san valgrind
.PHONY: install uninstall dist deb

-include $(wildcard $(BUILD)/obj/*.d $(BUILD)/obj/test/*/*.d)
-include bench/bench.mk
-include fuzz/fuzz.mk
