# fuzz/fuzz.mk, included by the Makefile: libFuzzer harnesses, built with
# clang (Debian's clang and libclang-rt-14-dev, group "san").
#
# make fuzz                    build every harness and run each FUZZ_SECONDS
# make fuzz FUZZ_SECONDS=600   longer; FUZZ_NAMES=config for one
# make fuzz-build              build only, into build/fuzz/
# build/fuzz/config_fuzz FILE  replay one input (a crash-* file, say)
#
# Each harness runs on a working corpus under build/fuzz/corpus/NAME,
# seeded from fuzz/corpus/NAME, so the repository is never written; what
# it learns is kept there for the next run.  A crash, a leak, a sanitizer
# report, a timeout or a broken property fails the target, and the input
# that did it is left in build/fuzz/NAME-crash-* (fuzz/run.sh says how to
# replay it; make it a case in test/unit/fuzz_regressions_test.cc).

FUZZ_SECONDS ?= 60
FUZZ_NAMES ?= pidfile procstat config options control notify
FUZZ_CXX ?= clang++
FUZZ_DIR = build/fuzz
# The same language flags as the program (no exceptions, no RTTI); -O1
# and frame pointers for readable sanitizer reports.
FUZZ_CXXFLAGS = -std=c++17 -fno-exceptions -fno-rtti $(WARN) $(UV_CFLAGS) \
	-D_GNU_SOURCE -Isrc -MMD -MP -O1 -g -fno-omit-frame-pointer \
	-fno-sanitize-recover=all
FUZZ_SAN = address,undefined

# src/ is instrumented for coverage (fuzzer-no-link); only a harness's
# own object brings libFuzzer's main in at link time.
$(FUZZ_DIR)/obj/%.o: src/%.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c -o $@ $<

$(FUZZ_DIR)/obj/fuzz/%.o: fuzz/%.cc
	@mkdir -p $(dir $@)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) -fsanitize=fuzzer-no-link,$(FUZZ_SAN) -c -o $@ $<

# Each harness links only the modules it reaches: config.cc needs
# parse_duration (settings.cc) and the signal table; settings.cc needs
# config_load and path_basename (proc.cc), config.cc the label rules of
# metrics.cc; ctlproto.cc is control.cc's
# pure part, and notifymsg.cc notify.cc's.  None needs libuv.
$(FUZZ_DIR)/pidfile_fuzz: $(FUZZ_DIR)/obj/fuzz/pidfile_fuzz.o $(FUZZ_DIR)/obj/pidfile.o
$(FUZZ_DIR)/procstat_fuzz: $(FUZZ_DIR)/obj/fuzz/procstat_fuzz.o $(FUZZ_DIR)/obj/proc.o
$(FUZZ_DIR)/config_fuzz $(FUZZ_DIR)/options_fuzz: $(FUZZ_DIR)/obj/config.o \
	$(FUZZ_DIR)/obj/options.o $(FUZZ_DIR)/obj/settings.o $(FUZZ_DIR)/obj/signals.o \
	$(FUZZ_DIR)/obj/proc.o $(FUZZ_DIR)/obj/metrics.o
$(FUZZ_DIR)/control_fuzz: $(FUZZ_DIR)/obj/fuzz/control_fuzz.o $(FUZZ_DIR)/obj/ctlproto.o
$(FUZZ_DIR)/notify_fuzz: $(FUZZ_DIR)/obj/fuzz/notify_fuzz.o $(FUZZ_DIR)/obj/notifymsg.o
$(FUZZ_DIR)/config_fuzz: $(FUZZ_DIR)/obj/fuzz/config_fuzz.o
$(FUZZ_DIR)/options_fuzz: $(FUZZ_DIR)/obj/fuzz/options_fuzz.o

FUZZ_PROGS = $(patsubst %,$(FUZZ_DIR)/%_fuzz,$(FUZZ_NAMES))

$(FUZZ_PROGS):
	$(FUZZ_CXX) -fsanitize=fuzzer,$(FUZZ_SAN) -o $@ $^

fuzz-build: deps-san
	@$(MAKE) --no-print-directory $(FUZZ_PROGS)

fuzz: fuzz-build
	@sh fuzz/run.sh $(FUZZ_DIR) $(FUZZ_SECONDS) $(FUZZ_NAMES)

.PHONY: fuzz fuzz-build

-include $(wildcard $(FUZZ_DIR)/obj/*.d $(FUZZ_DIR)/obj/fuzz/*.d)
