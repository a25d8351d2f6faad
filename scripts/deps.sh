#!/usr/bin/env bash
# Installs the Debian packages the demo, the tests and the benchmarks need,
# only when something is missing. Idempotent; safe to run on every `make`.
#
#   scripts/deps.sh            # tools for the demo and the tests
#   scripts/deps.sh bench      # plus what the benchmarks compare against
set -euo pipefail

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
if [ "${1:-}" = bench ]; then
	want ethtool ethtool
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
