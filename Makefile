# gannet — build, test, benchmark, fuzz, lint, generate.
#
# `make test` is what CI runs (.ci/run). Privileged tests (network namespaces,
# veth, AF_XDP, XDP) run when the user is root and skip with a message naming
# what is missing otherwise.

GO        ?= go
PKGS      ?= ./...
BIN       := bin/gannet
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
FUZZTIME  ?= 10s
BENCHTIME ?= 1s
BENCH     ?= .
STATICCHECK_VERSION := v0.8.2
STATICCHECK := bin/staticcheck-$(STATICCHECK_VERSION)

.PHONY: all build test test-short bench fuzz lint generate clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/gannet

# The whole suite: unit, differential, race and privileged tests, every fuzz
# target over its seed corpus, then every benchmark once so they cannot rot.
test:
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(GO) test -run '^$$' -bench . -benchtime 1x -count=1 -timeout 20m $(PKGS)

# Quick loop for development: no race detector, no benchmarks.
test-short:
	$(GO) test -short -count=1 $(PKGS)

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchtime $(BENCHTIME) -benchmem -count=1 -timeout 60m $(PKGS)

# The soak: the whole pipeline on mixed traffic for SOAKTIME, reporting loss,
# RSS, heap and goroutines every 30 s (not in CI).
SOAKTIME ?= 10m
.PHONY: soak
soak:
	GANNET_SOAK=$(SOAKTIME) $(GO) test -count=1 -run '^TestSoak$$' -v -timeout 0 ./fwd/

# Every fuzz target for FUZZTIME each (make fuzz FUZZTIME=1m).
fuzz:
	GO=$(GO) scripts/fuzz.sh $(FUZZTIME) $(PKGS)

lint: $(STATICCHECK)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)

$(STATICCHECK):
	@mkdir -p bin
	GOBIN=$(CURDIR)/bin/.staticcheck $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv bin/.staticcheck/staticcheck $@ && rmdir bin/.staticcheck

# The benchmark set: gannet bench lpm, acl and forward (forward needs root and
# builds its own network namespaces), all results in RESULTS.
RESULTS ?= results
.PHONY: perf perf-deps
perf: build
	@mkdir -p $(RESULTS)
	$(BIN) bench lpm > $(RESULTS)/lpm.txt && cat $(RESULTS)/lpm.txt
	$(BIN) bench acl --rules acl/testdata/classbench/acl1_1k > $(RESULTS)/acl.txt && cat $(RESULTS)/acl.txt
	$(BIN) bench forward --out $(RESULTS)

# The peers bench forward compares with (Debian packages).
perf-deps:
	apt-get install -y dpdk-dev dpdk tayga nftables

# The Debian package: DIST/gannet_<version>_<arch>.deb (scripts/deb.sh,
# deploy/debian; needs dpkg-deb).
DIST ?= dist
.PHONY: deb
deb:
	GO=$(GO) VERSION=$(VERSION) scripts/deb.sh $(DIST)

# Regenerates every generated file; on a clean tree `git status` stays clean.
generate:
	$(GO) generate $(PKGS)

clean:
	rm -rf bin dist
