#!/usr/bin/env bash
# The sleeve's cipher, chosen per link in the authenticated handshake:
#
#   host h1 ns ===== veth (underlay, 198.18.0.0/24) ===== host h2 ns
#     c1 ns -- bridge weave -- router h1     router h2 -- bridge weave -- c2 ns
#
# Both routers share a password. Asserts: with --cipher auto on both, the
# link uses AES-256-GCM where the CPU has AES and PCLMULQDQ (else
# ChaCha20-Poly1305), both ends agree and status shows it; with
# --cipher chacha20-poly1305 on one, the link uses ChaCha20-Poly1305;
# containers ping and iperf3 across either; with --cipher aes256-gcm on
# one and chacha20-poly1305 on the other there is no link, and the status
# and both logs say why.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-cipher-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"

trap 'ws_finish netns-cipher-test' EXIT

p=wsc-$WS_ID
ns_add "$p-h1"
ns_add "$p-h2"
link_ns "$p-h1" "$p-h2" ul0 ul0 198.18.0.1/24 198.18.0.2/24
printf 'cipher-test-secret\n' >"$WS_TMP/pw"

auto=chacha20-poly1305
grep -qw aes /proc/cpuinfo && grep -qw pclmulqdq /proc/cpuinfo && auto=aes256-gcm

# up_pair CIPHER1 CIPHER2: (re)start both routers with those --cipher values.
up_pair() {
	router_down h1
	router_down h2
	router_up "$p-h1" h1 "$WS_TMP/h1.log" --name 02:00:00:00:00:01 --listen 198.18.0.1:6783 --no-discovery \
		--password-file "$WS_TMP/pw" --cipher "$1"
	router_up "$p-h2" h2 "$WS_TMP/h2.log" --name 02:00:00:00:00:02 --listen 198.18.0.2:6783 --no-discovery \
		--password-file "$WS_TMP/pw" --cipher "$2" --peer 198.18.0.1
}
cipher_of() { # cipher_of ROUTER: the cipher of its one connection
	{ "$WS_BIN" status --api "$WS_TMP/$1.sock" --json || true; } | jq -r '.connections[0].cipher // "none"'
}
both_use() { # both_use CIPHER
	local c1 c2
	c1=$(cipher_of h1) c2=$(cipher_of h2)
	echo "h1: $c1, h2: $c2"
	[ "$c1" = "$1" ] && [ "$c2" = "$1" ]
}
# attach N: new containers c1 (10.32.0.N) and c2 (10.32.0.N+1) on the
# routers of this phase (the routers keep their allocations across
# restarts, so each phase has addresses of its own).
c1= c2= a2=
attach() {
	c1=$p-c1-$1 c2=$p-c2-$1 a2=10.32.0.$(($1 + 1))
	ns_add "$c1"
	ns_add "$c2"
	ws attach --api "$WS_TMP/h1.sock" "$c1" "10.32.0.$1/12" >/dev/null
	ws attach --api "$WS_TMP/h2.sock" "$c2" "$a2/12" >/dev/null
}
ping_across() { ip netns exec "$c1" ping -c 3 -i 0.2 -W 2 "$a2"; }
iperf_across() { # iperf_across PORT -> fails unless data moved
	ip netns exec "$c2" iperf3 -s -D -1 -B "$a2" -p "$1" --pidfile "$WS_TMP/iperf$1.pid" >/dev/null
	wait_listen "$c2" "$1"
	local bps
	bps=$(ip netns exec "$c1" iperf3 -c "$a2" -p "$1" -t 2 -J 2>/dev/null | jq -r '.end.sum_received.bits_per_second // 0')
	echo "$(awk "BEGIN{printf \"%.2f\", $bps/1e9}") Gbit/s"
	awk "BEGIN{exit !($bps > 0)}"
}

pretty "this CPU's auto cipher: $auto"
up_pair auto auto
wait_links h2 1 30
attach 1
ws_check "auto on both: the link uses $auto, both ends agree" both_use "$auto"
ws_check "auto on both: containers ping across" ping_across
ws_check "auto on both: iperf3 across" iperf_across 5301
ws_check "status connections names the cipher" bash -c "'$WS_BIN' status connections --api $WS_TMP/h1.sock | grep -q 'cipher $auto'"
ws_check "the log names the link's cipher" grep -q "encrypted link.*cipher=$auto" "$WS_TMP/h1.log"

up_pair auto chacha20-poly1305
wait_links h2 1 30
attach 3
ws_check "auto and chacha20-poly1305: the link uses chacha20-poly1305" both_use chacha20-poly1305
ws_check "chacha20-poly1305: containers ping across" ping_across
ws_check "chacha20-poly1305: iperf3 across" iperf_across 5302

up_pair aes256-gcm chacha20-poly1305
refused() { # the dialer's status says why, and neither router has a link
	local st
	for _ in $(seq 100); do
		st=$({ "$WS_BIN" status --api "$WS_TMP/h2.sock" --json || true; } | jq -r '.connections[0].reason // ""')
		if [[ $st == *"no cipher in common"* ]]; then
			echo "h2: $st"
			[ "$(cipher_of h1)" = none ] && [ "$(cipher_of h2)" = none ]
			return
		fi
		sleep 0.1
	done
	echo "h2's connection: ${st:-none}"
	return 1
}
ws_check "aes256-gcm against chacha20-poly1305: no link, the dialer's status says why" refused
ws_check "both logs say why the link was refused" bash -c \
	"grep -q 'no cipher in common' '$WS_TMP/h1.log' && grep -q 'no cipher in common' '$WS_TMP/h2.log'"
