# msgsink developer targets. Tools are pinned in tools/go.mod and built into
# ./bin through the Go module proxy, so a fresh machine needs only Go and make.

GO       ?= go
BIN      := $(CURDIR)/bin
COUNT    ?= 10
BENCH    ?= .
FUZZTIME ?= 10m
BENCHOUT ?= bench-$(shell date +%Y%m%d-%H%M%S).txt

DEMOFLAGS ?=

.PHONY: bench-issues all demo cli test test-race test-allocs test-checked test-modules vet lint tools bench benchcmp fuzz clean

all: lint test

## demo: the main job on embedded defaults: relay, adapter, consumer and dashboard for 10 s
# The CLI is a module of its own (it links contrib/nats); it is built into
# ./bin and run from here, so that paths in DEMOFLAGS mean what they say.
demo: cli
	$(BIN)/msgsink demo $(DEMOFLAGS)

## cli: build the msgsink command into ./bin/msgsink
cli:
	$(GO) build -C cmd/msgsink -o $(BIN)/msgsink .

## test: vet, the race suite, the non-race allocation proofs and fuzz seeds, the checked build
test: vet test-race test-allocs test-checked test-modules

# Modules of their own, so that the library's go.mod stays lean: the
# exporters and sink types under contrib/, and the CLI, which links them.
MODULES := contrib/prometheus contrib/nats cmd/msgsink

vet:
	$(GO) vet ./...
	for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

test-race:
	$(GO) test -race -count=1 -timeout 10m ./...

# Allocation proofs are built with !race (the race detector allocates), and
# the fuzz targets run over their committed seed corpora.
test-allocs:
	$(GO) test -count=1 -run 'Alloc|^Fuzz|^Example' ./...

# Misuse checks compiled in with the msgsink_checked tag.
test-checked:
	$(GO) test -count=1 -tags msgsink_checked ./...

test-modules:
	for m in $(MODULES); do (cd $$m && $(GO) test -race -count=1 -timeout 10m ./... && \
	  $(GO) test -count=1 -run 'Alloc|^Example' ./...) || exit 1; done

## lint: gofmt, vet, staticcheck, and go.mod tidiness for every module
lint: vet $(BIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(BIN)/staticcheck ./...
	for m in $(MODULES); do (cd $$m && $(BIN)/staticcheck ./... && $(GO) mod tidy -diff) || exit 1; done
	$(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff

tools: $(BIN)/staticcheck $(BIN)/benchstat

$(BIN)/staticcheck $(BIN)/benchstat: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(BIN)/ honnef.co/go/tools/cmd/staticcheck golang.org/x/perf/cmd/benchstat

# -benchtime per family, chosen so that a full `make bench` (COUNT=10) takes
# under about 30 minutes on the reference 2-core machine: the package
# benchmarks are many and short; the overhead proofs need long runs to
# resolve a 1% difference; latency needs enough messages for a p99.9 at
# 10k msgs/s; one idle-CPU op is a 100 ms window.
BENCHTIME_LIB      ?= 200ms
BENCHTIME_OVERHEAD ?= 1s
BENCHTIME_E2E      ?= 300ms
BENCHTIME_LATENCY  ?= 1s
BENCHTIME_IDLE     ?= 10x
BENCHTIME_NATS     ?= 1s
BENCHTIME_RECEIVE  ?= 300ms
# The root module's packages with benchmarks of their own, besides ./bench
# and ./source, which have families of their own (the other modules' are run
# from their own directories).
BENCHPKGS := $(filter-out ./bench/ ./source/ $(addprefix ./,$(addsuffix /%,$(MODULES) tools)),$(sort $(dir $(shell grep -rl --include='*_test.go' '^func Benchmark' . 2>/dev/null))))
# perfmd run records each family's command, Go version and machine load
# alongside its output, for PERFORMANCE.md.
PERFMD    := $(GO) run ./internal/cmd/perfmd
BENCHRUN   = $(PERFMD) run -family $(1) -- $(GO) test -run '^$$' -benchmem -count=$(COUNT) -benchtime=$(2) -timeout=60m
PERFRAW   ?= PERFORMANCE.raw.txt

## bench: raw benchmark results (-count=$(COUNT)) into $(BENCHOUT), for benchstat; BENCH=regexp narrows
bench:
ifeq ($(BENCH),.)
	{ $(call BENCHRUN,library,$(BENCHTIME_LIB)) -bench . $(BENCHPKGS) && \
	  $(call BENCHRUN,overhead,$(BENCHTIME_OVERHEAD)) -bench '^BenchmarkOverhead$$' ./bench && \
	  $(call BENCHRUN,e2e,$(BENCHTIME_E2E)) -bench '^BenchmarkE2E$$' ./bench && \
	  $(call BENCHRUN,latency,$(BENCHTIME_LATENCY)) -bench '^Benchmark(Relay)?Latency$$' ./bench && \
	  $(call BENCHRUN,idle,$(BENCHTIME_IDLE)) -bench '^BenchmarkIdleCPU$$' ./bench && \
	  $(BENCH_ISSUES); } | tee $(BENCHOUT)
else
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count=$(COUNT) -timeout=60m ./... | tee $(BENCHOUT)
endif
	@echo "results in $(BENCHOUT); compare with: make benchcmp OLD=old.txt NEW=$(BENCHOUT)"

# The families of the receive side, acked delivery, NATS and the dashboard
# (issues 14-17); bench-issues runs them alone, into $(BENCHOUT).
BENCH_ISSUES = $(call BENCHRUN,receive,$(BENCHTIME_RECEIVE)) -bench '^Benchmark(Next|Listen|Reconnect)$$' ./source && \
	  $(call BENCHRUN,delivery,$(BENCHTIME_E2E)) -bench '^BenchmarkDelivery$$' ./bench && \
	  $(PERFMD) run -family nats -- $(GO) test -C contrib/nats -run '^$$' -benchmem -count=$(COUNT) \
	    -benchtime=$(BENCHTIME_NATS) -timeout=60m -bench '^BenchmarkPublish$$' . && \
	  $(PERFMD) run -family dashboard -- $(GO) test -C cmd/msgsink -run '^$$' -benchmem -count=$(COUNT) \
	    -benchtime=$(BENCHTIME_RECEIVE) -timeout=60m -bench '^BenchmarkIntake$$' ./internal/dashboard

## bench-issues: only the families of issues 14-17, into $(BENCHOUT)
bench-issues:
	{ $(BENCH_ISSUES); } | tee $(BENCHOUT)

## perf: make bench into $(PERFRAW), then PERFORMANCE.md from it (targets checked, misses profiled)
perf: $(BIN)/benchstat
	$(MAKE) bench BENCH=. BENCHOUT=$(PERFRAW)
	$(PERFMD) report -benchstat $(BIN)/benchstat -go $(GO) $(if $(wildcard bench/ANALYSIS.md),-notes bench/ANALYSIS.md) -profile -o PERFORMANCE.md $(PERFRAW)

## benchcmp: compare two bench result files, OLD=... NEW=...
benchcmp: $(BIN)/benchstat
	@test -n "$(OLD)" -a -n "$(NEW)" || { echo "usage: make benchcmp OLD=old.txt NEW=new.txt"; exit 2; }
	$(BIN)/benchstat $(OLD) $(NEW)

# Packages with fuzz targets: the parsers and validators in ./fuzz, and the
# relay's frame intake over a real socket (it needs the relay's test helpers).
FUZZPKGS := ./fuzz ./relay

## fuzz: run every fuzz target for FUZZTIME each (default 10m)
fuzz:
	@for p in $(FUZZPKGS); do \
	  for t in $$($(GO) test -list '^Fuzz' $$p | grep '^Fuzz'); do \
	    echo "== $$p $$t ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$p || exit 1; \
	  done; \
	done

clean:
	rm -rf $(BIN)
