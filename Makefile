# msgsink developer targets. Tools are pinned in tools/go.mod and built into
# ./bin through the Go module proxy, so a fresh machine needs only Go and make.

GO       ?= go
BIN      := $(CURDIR)/bin
COUNT    ?= 10
BENCH    ?= .
FUZZTIME ?= 10m
BENCHOUT ?= bench-$(shell date +%Y%m%d-%H%M%S).txt

DEMOFLAGS ?=

.PHONY: all demo test test-race test-allocs test-checked test-contrib vet lint tools bench benchcmp fuzz clean

all: lint test

## demo: the main job on embedded defaults: relay, adapter and consumer for 10 s
demo:
	$(GO) run ./cmd/msgsink demo $(DEMOFLAGS)

## test: vet, the race suite, the non-race allocation proofs and fuzz seeds, the checked build
test: vet test-race test-allocs test-checked test-contrib

# Modules of their own under contrib/, so that the library's go.mod stays lean.
CONTRIB := contrib/prometheus

vet:
	$(GO) vet ./...
	for m in $(CONTRIB); do (cd $$m && $(GO) vet ./...) || exit 1; done

test-race:
	$(GO) test -race -count=1 -timeout 10m ./...

# Allocation proofs are built with !race (the race detector allocates), and
# the fuzz targets run over their committed seed corpora.
test-allocs:
	$(GO) test -count=1 -run 'Alloc|^Fuzz|^Example' ./...

# Misuse checks compiled in with the msgsink_checked tag.
test-checked:
	$(GO) test -count=1 -tags msgsink_checked ./...

test-contrib:
	for m in $(CONTRIB); do (cd $$m && $(GO) test -race -count=1 ./...) || exit 1; done

## lint: gofmt, vet, staticcheck, and go.mod tidiness for every module
lint: vet $(BIN)/staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(BIN)/staticcheck ./...
	for m in $(CONTRIB); do (cd $$m && $(BIN)/staticcheck ./... && $(GO) mod tidy -diff) || exit 1; done
	$(GO) mod tidy -diff
	cd tools && $(GO) mod tidy -diff

tools: $(BIN)/staticcheck $(BIN)/benchstat

$(BIN)/staticcheck $(BIN)/benchstat: tools/go.mod tools/go.sum
	cd tools && $(GO) build -o $(BIN)/ honnef.co/go/tools/cmd/staticcheck golang.org/x/perf/cmd/benchstat

## bench: raw benchmark results (-count=$(COUNT)) into $(BENCHOUT), for benchstat
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count=$(COUNT) ./... | tee $(BENCHOUT)
	@echo "results in $(BENCHOUT); compare with: make benchcmp OLD=old.txt NEW=$(BENCHOUT)"

## benchcmp: compare two bench result files, OLD=... NEW=...
benchcmp: $(BIN)/benchstat
	@test -n "$(OLD)" -a -n "$(NEW)" || { echo "usage: make benchcmp OLD=old.txt NEW=new.txt"; exit 2; }
	$(BIN)/benchstat $(OLD) $(NEW)

# Packages with fuzz targets: the parsers and validators in ./fuzz, and the
# relay's frame intake over a real socket (it needs the relay's test helpers).
FUZZPKGS := ./fuzz ./internal/relay

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
