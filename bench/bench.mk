# bench/bench.mk: `make bench` (issue 6), included by the top-level Makefile.
#
#	make bench			# every wrapper, 30 runs per figure
#	make bench BENCH_ARGS='-n 50'	# more runs; see `build/bench/bench -h`
#
# Installs the peers when missing (as root on Debian; otherwise prints the
# apt-get command and stops), builds the driver, the fixture daemon and the
# Go model of gitaly-wrapper into $(BUILD)/bench, runs them against
# $(BUILD)/pidsitter, prints the Markdown table and writes
# $(BUILD)/bench/results.md, the raw samples ($(BUILD)/bench/*.dat) and
# $(BUILD)/bench/latency.png.  Not part of `make check`: it reports numbers,
# it asserts nothing.

BUILD ?= build
CXX ?= g++
BENCH_OUT := $(BUILD)/bench
BENCH_CXXFLAGS := -std=c++17 -O2 -Wall -Wextra -Wshadow -Wformat=2 -fno-exceptions -fno-rtti
BENCH_CFLAGS := -std=c11 -O2 -Wall -Wextra
BENCH_ARGS ?=

.PHONY: bench bench-peers

bench: bench-peers $(BUILD)/pidsitter $(BENCH_OUT)/bench $(BENCH_OUT)/fixture $(BENCH_OUT)/gwmodel
	$(BENCH_OUT)/bench -o $(BENCH_OUT) -f $(BENCH_OUT)/fixture \
	    --pidsitter $(BUILD)/pidsitter --gwmodel $(BENCH_OUT)/gwmodel \
	    --versions "$$(for p in tini dumb-init supervisor golang-go; do \
	        printf '%s %s, ' $$p "$$(dpkg-query -W -f='$${Version}' $$p 2>/dev/null)"; \
	        done | sed 's/, $$//')" \
	    $(BENCH_ARGS)
	gnuplot -e "dir='$(BENCH_OUT)'" bench/plot.gp
	@echo "bench: table in $(BENCH_OUT)/results.md, plot in $(BENCH_OUT)/latency.png"

# The peers come from Debian 12 (REFERENCE.md section 6): the `bench` group
# of third_party/packages.txt, installed like every other group.
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
