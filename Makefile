# weave-switch. `make test` is what CI runs (as root): unit tests, fuzz
# seeds, root-only Go tests and the network-namespace end-to-end test.
GO      ?= go
BIN     := bin/weave-switch
CNI_PLUGIN := bin/weave-switch-cni
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/weave-switch/weave-switch/internal/version.Version=$(VERSION)
PKGS    := ./...
FUZZTIME ?= 20s

PLUGIN_DIR := build/docker-plugin

.PHONY: all build docker-plugin deps test unit race fuzz netns-test netns-lifecycle-test netns-web-test deploy-check docker-test deb-test qemu-test demo demo-docker bench lint vet clean dist deb docs dns-test image image-test install cni-test nat-test faults soak bench-scale scale-check bench-peers

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/weave-switch
	CGO_ENABLED=0 $(GO) build -trimpath -o $(CNI_PLUGIN) ./cmd/weave-switch-cni

# The router into $(PREFIX)/bin and the CNI plugin into $(CNI_BIN_DIR),
# where container runtimes look for CNI plugins.
PREFIX      ?= /usr/local
CNI_BIN_DIR ?= /opt/cni/bin
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/weave-switch
	install -D -m 0755 $(CNI_PLUGIN) $(DESTDIR)$(CNI_BIN_DIR)/weave-switch-cni

# The managed (v2) Docker plugin's directory, for
# `docker plugin create weave-switch/net:VERSION build/docker-plugin`:
# its config and a rootfs holding only the static forwarder.
docker-plugin:
	rm -rf $(PLUGIN_DIR)
	mkdir -p $(PLUGIN_DIR)/rootfs/run/docker/plugins $(PLUGIN_DIR)/rootfs/run/weave-switch
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o $(PLUGIN_DIR)/rootfs/weave-switch-docker-plugin ./cmd/weave-switch-docker-plugin
	cp deploy/docker-plugin/config.json $(PLUGIN_DIR)/config.json

deps:
	scripts/deps.sh

# The node image (deploy/image/Dockerfile: FROM scratch, static
# binaries, no registry) as a `docker save` tarball, tagged
# weave-switch/node:$(VERSION) and :latest. Without DOCKER_HOST, the
# script runs a private dockerd in a network namespace of its own for the
# build and stops it by PID.
IMAGE ?= $(DIST)/weave-switch-image.tar
image:
	IMAGE_VERSION=$(VERSION) scripts/image.sh $(IMAGE)

# Loads the tarball into a fresh dockerd and runs the image: --version,
# kube-install, and the router with the host's network answering the
# DaemonSet's probes.
image-test: image
	scripts/image-test.sh $(IMAGE)

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
	scripts/netns-cipher-test.sh
	scripts/netns-fastpath-test.sh
	scripts/netns-ipam-test.sh
	scripts/netns-isolation-test.sh
	scripts/netns-hostile-test.sh
	scripts/netns-nat-test.sh
	scripts/netns-lifecycle-test.sh
	scripts/netns-web-test.sh
	scripts/netns-dns-test.sh
	scripts/netns-faults-test.sh --short
	scripts/bench-scale.sh -c 10
	scripts/netns-docker-test.sh
	scripts/deps.sh cni
	scripts/netns-cni-test.sh
	$(MAKE) deb-test
	$(MAKE) image-test

# The CNI plugin through cnitool, podman and containerd's CRI plugin
# (crictl) on two hosts.
cni-test: build
	scripts/deps.sh cni
	scripts/netns-cni-test.sh

# Service discovery: four routers in a line, names resolved from inside
# containers, forwarding, removal on detach, rmpeer and peer death.
dns-test: build
	scripts/netns-dns-test.sh

# Readiness (NOTIFY_SOCKET), SIGHUP, down, down --leave, reset after kill -9.
netns-lifecycle-test: build
	scripts/netns-lifecycle-test.sh

# The status page in headless Chromium on a five-host mesh (screenshots
# in /tmp/weave-switch-web-test), and the Prometheus rules and Grafana
# dashboard of deploy/ against a live router's /metrics.
netns-web-test: build
	scripts/deps.sh
	scripts/netns-web-test.sh

# The Prometheus rules and their unit tests, and the dashboard's JSON,
# without a router (netns-web-test checks them against live metrics).
deploy-check:
	scripts/deps.sh
	promtool check rules deploy/prometheus/alerts.yml
	promtool test rules deploy/prometheus/alerts_test.yml
	jq -e '.panels | length > 0' deploy/grafana/weave-switch.json >/dev/null

# Builds the .deb, installs it, runs the installed router in a namespace,
# purges it and checks nothing is left.
deb-test: deb
	scripts/deb-test.sh

# Docker on two hosts: each a network and a mount namespace with its own
# dockerd and router; the managed plugin from docker-plugin
# (scripts/netns-docker-test.sh).
docker-test: deps build docker-plugin
	scripts/netns-docker-test.sh

# Faults under load on a five-host mesh (relay kill -9, partition, underlay
# loss, churn, disk full), each checked for lost or duplicate addresses:
# writes docs/faults.md from its own measurements.
faults: build
	scripts/netns-faults-test.sh --full

# Ten minutes of mixed traffic and churn, every router's RSS, goroutines
# and fds sampled: fails on a slope above its bounds; writes docs/soak.md,
# soak.csv and soak-rss.svg.
soak: build
	scripts/netns-faults-test.sh --soak

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

# The demo with Docker: two hosts, dockerd and a router on each, containers
# started with docker run (scripts/demo-docker.sh, or demo.sh --docker).
demo-docker: deps build
	scripts/demo-docker.sh

# Writes bench/results/latest.json and latest.svg, its bar chart.
bench: build
	scripts/deps.sh bench
	bench/run.sh

# Cost per peer (not part of `make test`): BENCH_SCALE_N routers in network
# namespaces, full mesh (BENCH_SCALE_FLAGS=-d4: a partial mesh of degree
# 4), idle; RSS, heap, goroutines, fds, idle CPU, control and underlay
# bytes per router and the time a new router takes to be reachable from
# all. `make test` runs the short check (netns-test: scale-check): 10
# routers, bounds on anonymous RSS and goroutines per peer, half of them
# restarted, nothing grows.
BENCH_SCALE_N ?= 10
BENCH_SCALE_FLAGS ?=
bench-scale: build
	scripts/deps.sh
	scripts/bench-scale.sh $(BENCH_SCALE_FLAGS) $(BENCH_SCALE_N)
scale-check: build
	scripts/deps.sh
	scripts/bench-scale.sh -c 10

# One router with BENCH_PEERS_N peers (not part of `make test`): a real
# router and BENCH_PEERS_N-1 simulated peers (cmd/ws-peersim) in one
# process; the router's RSS, heap (and its profile), goroutines, fds and
# idle CPU once all are established.
BENCH_PEERS_N ?= 1000
bench-peers: build
	scripts/deps.sh
	scripts/bench-peers.sh $(BENCH_PEERS_N)

# go vet, gofmt, staticcheck (its default checks, unused code included)
# and the import-graph rules of internal/archtest.
lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@scripts/deps.sh staticcheck
	bin/staticcheck $(PKGS)
	$(GO) test -count=1 ./internal/archtest/

vet:
	$(GO) vet $(PKGS)

# Release artefacts in dist/: static binaries (the router and the CNI
# plugin) for amd64 and arm64 whose
# --version is the VCS stamp of the checkout (runtime/debug.ReadBuildInfo),
# the man page and the shell completions generated from the CLI
# definition. DIST_VERSION=1.2.3 sets the version instead; in a git
# worktree (.git is a file, which the go command does not stamp from) it
# defaults to `git describe`.
DIST         := dist
DIST_ARCHS   ?= amd64 arm64
DIST_VERSION ?= $(if $(wildcard .git/HEAD),,$(shell git describe --always --dirty 2>/dev/null))
DIST_LDFLAGS  = -s -w $(if $(DIST_VERSION),-X github.com/weave-switch/weave-switch/internal/version.Version=$(DIST_VERSION))

dist:
	@mkdir -p $(DIST)
	for arch in $(DIST_ARCHS); do \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOFLAGS=-buildvcs=auto $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' \
	    -o $(DIST)/weave-switch-linux-$$arch ./cmd/weave-switch || exit 1; \
	  CGO_ENABLED=0 GOOS=linux GOARCH=$$arch GOFLAGS=-buildvcs=auto $(GO) build -trimpath -ldflags '$(DIST_LDFLAGS)' \
	    -o $(DIST)/weave-switch-cni-linux-$$arch ./cmd/weave-switch-cni || exit 1; \
	done
	$(MAKE) docs BIN_FOR_DOCS=$(DIST)/weave-switch-linux-$$($(GO) env GOARCH)

# The man page (section 8) and the bash, zsh and fish completions,
# generated by the binary from its own CLI definition.
BIN_FOR_DOCS ?= $(BIN)
docs:
	@mkdir -p $(DIST)/man $(DIST)/completion
	$(BIN_FOR_DOCS) man > $(DIST)/man/weave-switch.8
	$(BIN_FOR_DOCS) completion bash > $(DIST)/completion/weave-switch.bash
	$(BIN_FOR_DOCS) completion zsh > $(DIST)/completion/_weave-switch
	$(BIN_FOR_DOCS) completion fish > $(DIST)/completion/weave-switch.fish

# A Debian package (dpkg-deb) of the static amd64 binaries (the router,
# and the CNI plugin in /usr/lib/cni), the systemd
# unit, /etc/default/weave-switch, the config file, man page and
# completions: deploy/debian/build.sh.
deb: dist
	deploy/debian/build.sh $(DIST)/weave-switch-linux-amd64 $(DIST)/weave-switch-cni-linux-amd64 $(DIST)

clean:
	rm -rf bin build dist
