#!/usr/bin/env bash
# Installs the Debian packages the demo, the tests and the benchmarks need,
# only when something is missing. Idempotent; safe to run on every `make`.
#
#   scripts/deps.sh              # tools for the demo and the tests
#   scripts/deps.sh bench        # plus what the benchmarks compare against
#   scripts/deps.sh staticcheck  # only the linter `make lint` runs
#   scripts/deps.sh cni          # the same as with no argument (the CNI test)
set -euo pipefail
cd "$(dirname "$0")/.."

# staticcheck, built from the Go module proxy at a pinned version into
# bin/ (rebuilt when bin/staticcheck reports another version).
STATICCHECK_VERSION=v0.8.2
if ! bin/staticcheck -version 2>/dev/null | grep -qF "(${STATICCHECK_VERSION#v})"; then
	echo "deps: building staticcheck $STATICCHECK_VERSION" >&2
	mkdir -p bin
	GOBIN="$PWD/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi
if [ "${1:-}" = staticcheck ]; then
	exit 0
fi

need=()
want() { # want COMMAND PACKAGE
	command -v "$1" >/dev/null 2>&1 || need+=("$2")
}
want ip iproute2
want bridge iproute2
want ping iputils-ping
want iperf3 iperf3
want jq jq
want nft nftables
want make make
want curl curl
want conntrack conntrack # the NAT suite flushes a NAT router's mappings
want wg wireguard-tools # the stock-WireGuard interop test
want dockerd docker.io  # the Docker suite and demo: dockerd, containerd, runc, the CLI
want nsenter util-linux
# The Docker suite's image is a busybox rootfs made on the spot: it needs
# a statically linked busybox (Debian's "busybox" package is dynamic).
static_busybox() {
	local bb out
	bb=$(command -v busybox) || return 1
	out=$(LC_ALL=C ldd "$bb" 2>&1 || true) # ldd fails on a static binary
	grep -qE 'not a dynamic executable|statically linked' <<<"$out"
}
if ! static_busybox; then
	need+=(busybox-static)
fi
want socat socat       # the lifecycle test listens on a fake NOTIFY_SOCKET
want dpkg-deb dpkg     # make deb and the package test
want chromium chromium # the status page test (headless)
want promtool prometheus # checks deploy/prometheus against live metrics
want dnsmasq dnsmasq-base # the DNS test's upstream resolver
want dnsperf dnsperf      # the DNS test's flood of queries
want busybox busybox-static # nslookup inside the DNS test's containers
# The CNI test's runtimes: podman (CNI backend), containerd's CRI plugin.
want podman podman
want conmon conmon
want containerd containerd
want runc runc
want python3 python3 # writes the CRI test's sandbox image
if [ "${1:-}" = bench ]; then
	want ethtool ethtool
fi

# wireguard-go, the reference userspace WireGuard, built from the Go
# module proxy at a pinned version into bin/: the interop test and the
# bench run it.
WIREGUARD_GO_VERSION=v0.0.0-20260522210424-ecfc5a8d5446
if [ ! -x bin/wireguard-go ]; then
	echo "deps: building wireguard-go $WIREGUARD_GO_VERSION" >&2
	tmp=$(mktemp -d)
	GOBIN=$tmp go install "golang.zx2c4.com/wireguard@$WIREGUARD_GO_VERSION"
	mkdir -p bin
	mv "$tmp/wireguard" bin/wireguard-go
	rm -rf "$tmp"
fi

# cnitool and crictl (cri-tools), built from the Go module proxy at pinned
# versions into bin/: the CNI test drives the plugin with them.
CNITOOL_VERSION=v1.3.1
CRICTL_VERSION=v1.37.0
if [ ! -x bin/cnitool ]; then
	echo "deps: building cnitool $CNITOOL_VERSION" >&2
	mkdir -p bin
	GOBIN="$PWD/bin" go install "github.com/containernetworking/cni/cnitool@$CNITOOL_VERSION"
fi
if [ ! -x bin/crictl ]; then
	echo "deps: building crictl $CRICTL_VERSION" >&2
	mkdir -p bin
	GOBIN="$PWD/bin" go install "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION"
fi

if [ ${#need[@]} -eq 0 ]; then
	exit 0
fi
# Deduplicate.
mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing ${need[*]}; run as root to install them" >&2
	exit 1
fi
echo "deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
