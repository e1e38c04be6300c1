# bench/bench.mk: `make bench`, included by the top-level Makefile.
#
#	make bench			# every wrapper, 30 runs per figure
#	make bench BENCH_ARGS='-n 50'	# more runs; see `build/bench/bench -h`
#	make bench-compare		# the working tree against HEAD
#	make bench-compare BASE=main	# ... against any commit git knows
#
# Installs the peers when missing (as root on Debian; otherwise prints the
# apt-get command and stops), builds the driver, the fixture daemon and the
# Go model of gitaly-wrapper into $(BUILD)/bench, runs them against
# $(BUILD)/pidsitter, prints the Markdown table and writes
# $(BUILD)/bench/results.md, the raw samples ($(BUILD)/bench/*.dat) and
# $(BUILD)/bench/latency.png.  Not part of `make check`: it reports numbers,
# it asserts nothing.
#
# bench-compare puts two pidsitter binaries in one run, so that a change is
# judged against the run-to-run spread of the binary before it rather than
# against numbers taken on another day: it exports the tree of BASE (a
# commit, default HEAD: the last commit against the working tree) into a
# temporary directory, builds its pidsitter there with the same make
# options, keeps the binary as $(BUILD)/bench-compare/pidsitter-base and
# removes the tree, then runs the driver with `--baseline` on it beside
# $(BUILD)/pidsitter.  To keep the run short it measures only the
# baseline and COMPARE_WRAPPERS (default pidsitter,dumb-init,tini: the two
# peers as yardsticks of the machine's noise); a -w in BENCH_ARGS chooses
# others (the baseline stays).  Results go to $(BUILD)/bench-compare
# (results.md, *.dat, latency.png), apart from `make bench`'s.

BUILD ?= build
CXX ?= g++
BENCH_OUT := $(BUILD)/bench
BENCH_CXXFLAGS := -std=c++17 -O2 -Wall -Wextra -Wshadow -Wformat=2 -fno-exceptions -fno-rtti
BENCH_CFLAGS := -std=c11 -O2 -Wall -Wextra
BENCH_ARGS ?=
BASE ?= HEAD
COMPARE_OUT := $(BUILD)/bench-compare
COMPARE_WRAPPERS ?= pidsitter,dumb-init,tini

# The peers' Debian versions, for the table's machine line (shell text).
BENCH_VERSIONS = $$(for p in tini dumb-init supervisor golang-go; do \
	printf '%s %s, ' $$p "$$(dpkg-query -W -f='$${Version}' $$p 2>/dev/null)"; \
	done | sed 's/, $$//')

.PHONY: bench bench-compare bench-peers

bench: bench-peers $(BUILD)/pidsitter $(BENCH_OUT)/bench $(BENCH_OUT)/fixture $(BENCH_OUT)/gwmodel
	$(BENCH_OUT)/bench -o $(BENCH_OUT) -f $(BENCH_OUT)/fixture \
	    --pidsitter $(BUILD)/pidsitter --gwmodel $(BENCH_OUT)/gwmodel \
	    --versions "$(BENCH_VERSIONS)" $(BENCH_ARGS)
	gnuplot -e "dir='$(BENCH_OUT)'" bench/plot.gp
	@echo "bench: table in $(BENCH_OUT)/results.md, plot in $(BENCH_OUT)/latency.png"

# BUILD=build for the exported tree: its binary must land inside it even
# when ours is elsewhere (a BUILD given on our command line reaches the
# sub-make too).  Other options (SAN, LINK, CXXFLAGS) reach it as well, so
# both binaries are built alike.  The trap removes the tree whichever way
# the shell ends.
bench-compare: bench-peers $(BUILD)/pidsitter $(BENCH_OUT)/bench $(BENCH_OUT)/fixture
	@rev=$$(git rev-parse --verify --quiet '$(BASE)^{commit}') || \
	    { echo "bench-compare: BASE=$(BASE) is not a commit" >&2; exit 2; }; \
	tmp=$$(mktemp -d "$${TMPDIR:-/tmp}/pidsitter-base.XXXXXX") || exit 1; \
	trap 'rm -rf "$$tmp"' EXIT; trap 'exit 130' HUP INT TERM; \
	echo "bench-compare: building pidsitter of $(BASE) ($$rev) in $$tmp/src"; \
	rm -f $(COMPARE_OUT)/pidsitter-base; \
	mkdir "$$tmp/src" && git archive --format=tar -o "$$tmp/src.tar" "$$rev" && \
	tar -xf "$$tmp/src.tar" -C "$$tmp/src" && \
	$(MAKE) --no-print-directory -C "$$tmp/src" BUILD=build build/pidsitter && \
	mkdir -p $(COMPARE_OUT) && cp "$$tmp/src/build/pidsitter" $(COMPARE_OUT)/pidsitter-base
	$(BENCH_OUT)/bench -o $(COMPARE_OUT) -f $(BENCH_OUT)/fixture \
	    --pidsitter $(BUILD)/pidsitter --baseline $(COMPARE_OUT)/pidsitter-base \
	    --gwmodel $(BENCH_OUT)/gwmodel -w $(COMPARE_WRAPPERS) \
	    --versions "pidsitter: working tree of $$(git describe --always --dirty); \
	pidsitter (baseline): $(BASE) = $$(git rev-parse --short '$(BASE)^{commit}'); \
	$(BENCH_VERSIONS)" $(BENCH_ARGS)
	gnuplot -e "dir='$(COMPARE_OUT)'" bench/plot.gp
	@echo "bench-compare: pidsitter against $(BASE)'s: table in $(COMPARE_OUT)/results.md," \
	    "samples in $(COMPARE_OUT)/*.dat, plot in $(COMPARE_OUT)/latency.png"

# The peers come from Debian 12: the `bench` group of
# third_party/packages.txt, installed like every other group.
bench-peers:
	@sh third_party/deps.sh build test bench

# The driver: main and the schedule (bench.cc), what they share (driver.cc)
# and a file per figure; every one of them includes driver.h and event.h.
BENCH_SRC := $(sort $(wildcard bench/*.cc))
BENCH_OBJ := $(patsubst bench/%.cc,$(BENCH_OUT)/obj/%.o,$(BENCH_SRC))

$(BENCH_OUT)/obj/%.o: bench/%.cc bench/driver.h bench/event.h
	@mkdir -p $(@D)
	$(CXX) $(BENCH_CXXFLAGS) -c -o $@ $<

$(BENCH_OUT)/bench: $(BENCH_OBJ)
	$(CXX) $(BENCH_CXXFLAGS) -o $@ $(BENCH_OBJ)

# Static: the fixture's exec is part of the start-up figures, and a static
# binary keeps the dynamic loader's share of it out of every column alike.
$(BENCH_OUT)/fixture: bench/fixture.c bench/event.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -static -o $@ bench/fixture.c

# Debian's golang-go, standard library only, GOPATH mode: no network.
$(BENCH_OUT)/gwmodel: bench/gwmodel/main.go | bench-peers
	@mkdir -p $(@D)
	cd bench/gwmodel && GO111MODULE=off GOFLAGS= \
	    GOPATH=$(abspath $(BENCH_OUT)/gopath) GOCACHE=$(abspath $(BENCH_OUT)/gocache) \
	    go build -o $(abspath $@) .
