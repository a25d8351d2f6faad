# weave-switch. `make test` is what CI runs (as root): unit tests, fuzz
# seeds, root-only Go tests and the network-namespace end-to-end test.
GO      ?= go
BIN     := bin/weave-switch
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/weave-switch/weave-switch/daemon.Version=$(VERSION)
PKGS    := ./...
FUZZTIME ?= 20s

.PHONY: all build deps test unit race fuzz netns-test nat-test qemu-test demo bench lint vet clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/weave-switch

deps:
	scripts/deps.sh

# The whole suite. Go tests that need root run because CI is root.
test: deps build lint unit race netns-test qemu-test

unit:
	$(GO) test -count=1 $(PKGS)

race:
	$(GO) test -race -count=1 $(PKGS)

# Run every fuzz target for FUZZTIME each (the seeds run in `make unit`).
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; done

netns-test: build
	scripts/netns-test.sh
	scripts/netns-mesh-test.sh
	scripts/netns-transports-test.sh
	scripts/netns-fastpath-test.sh
	scripts/netns-ipam-test.sh
	scripts/netns-isolation-test.sh
	scripts/netns-hostile-test.sh
	scripts/netns-nat-test.sh

# Sites behind NAT (two masquerading routers with a stateful filter), on
# every transport.
nat-test: build
	scripts/netns-nat-test.sh

# The OVS datapath tests in a qemu VM booting Debian's cloud kernel (this
# machine's kernel has no openvswitch module): scripts/qemu-ovs-test.sh.
qemu-test:
	scripts/qemu-ovs-test.sh

demo: deps build
	scripts/demo.sh

bench: build
	scripts/deps.sh bench
	bench/run.sh

# go vet, gofmt, staticcheck (its default checks, unused code included)
# and the import-graph rules of internal/archtest.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@scripts/deps.sh staticcheck
	bin/staticcheck $(PKGS)
	$(GO) test -count=1 ./internal/archtest/

vet:
	$(GO) vet $(PKGS)

clean:
	rm -rf bin
