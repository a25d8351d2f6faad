#!/usr/bin/env bash
# Multi-hop mesh test, the seed's picture: five hosts where only some are
# wired to each other, plus a sixth that joins later knowing one address.
#
#            h2                    h4
#     .12.2 |                      | .34.4
#     .12.1 |                      | .34.3
#           h1 ---.13.1----.13.3-- h3
#                                  | .35.3
#                                  | .35.5
#                                  h5 ---.56.5----.56.6--- h6 (joins live, `connect`, then `forget`)
#
# Underlay 198.18.XY.0/24 per link; a host reaches only its direct
# neighbours, so h2 reaches h4 only through h1 and h3. Each host runs a real
# `weave-switch up`, with one container 10.32.0.N/12.
#
# Asserts: every container pings every other (multi-hop relaying and
# broadcast trees), h3 killed with SIGKILL and restarted with the same data
# dir: the mesh heals and everyone pings again; h6 joins given only h5's
# address and reaches everyone; then everything is torn down.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-mesh-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"

trap 'ws_finish netns-mesh-test' EXIT

p=wsm-$WS_ID
for i in 1 2 3 4 5 6; do ns_add "$p-h$i"; ns_add "$p-c$i"; done
wire() { # wire A B: veth between hosts A and B on 198.18.AB.0/24
	link_ns "$p-h$1" "$p-h$2" "u$1$2" "u$2$1" "198.18.$1$2.$1/24" "198.18.$1$2.$2/24"
}
wire 1 2
wire 1 3
wire 3 4
wire 3 5
wire 5 6

# h1 starts alone and makes the mesh's secret; every other host joins with
# a token from h1 (`join-token --addr`) naming the neighbour it can reach.
start() { # start I [PEER]: router on host I, joining through PEER
	local i=$1; shift
	local args=(--name "02:00:00:00:00:0$i" --nickname "h$i" --listen 0.0.0.0:6783)
	if [ $# -gt 0 ]; then args+=(--join "$(ws join-token --api "$WS_TMP/h1.sock" --addr "$1")"); fi
	router_up "$p-h$i" "h$i" "$WS_TMP/h$i.log" "${args[@]}"
}
start 1
start 2 198.18.12.1
start 3 198.18.13.1
start 4 198.18.34.3
start 5 198.18.35.3
for i in 1 2 3 4 5; do
	ws attach --api "$WS_TMP/h$i.sock" "$p-c$i" "10.32.0.$i/12" >/dev/null
done
wait_links h1 2
wait_links h3 3

all_pairs() { # all_pairs N...: every container among N pings every other
	local a b bad=0
	for a in "$@"; do
		for b in "$@"; do
			[ "$a" = "$b" ] && continue
			if ! ip netns exec "$p-c$a" ping -c 1 -W 3 "10.32.0.$b" >/dev/null 2>&1 &&
				! ip netns exec "$p-c$a" ping -c 2 -W 3 "10.32.0.$b" >/dev/null 2>&1; then
				echo "c$a cannot reach c$b"; bad=1
			fi
		done
	done
	return $bad
}
ws_check "every pair of the 5 containers pings (multi-hop through h1 and h3)" all_pairs 1 2 3 4 5
ws_check "h2 routes to h4 via h1" bash -c "'$WS_BIN' status peers --api $WS_TMP/h2.sock --json | jq -e '.[] | select(.name==\"02:00:00:00:00:04\" and .next_hop==\"02:00:00:00:00:01\" and .reachable)'"
ws_check "h2 knows all five peers from gossip" bash -c "[ \$('$WS_BIN' status peers --api $WS_TMP/h2.sock --json | jq length) -eq 5 ]"

# Broadcast reaches every host exactly once: ping the broadcast address
# from c2 and count the answers (one per container, no duplicates).
for i in 1 3 4 5; do ip netns exec "$p-c$i" sysctl -qw net.ipv4.icmp_echo_ignore_broadcasts=0; done
bc=$(ip netns exec "$p-c2" ping -b -c 3 -i 0.5 -W 2 10.47.255.255 2>&1 || true)
ws_check "broadcast from c2 reaches c1, c3, c4, c5" bash -c "for i in 1 3 4 5; do grep -q \"from 10.32.0.\$i\" <<<'$bc' || exit 1; done"
ws_check "broadcast delivered once per host (no reply twice for one sequence)" \
	bash -c "[ -z \"\$(grep -o 'from [0-9.]*: icmp_seq=[0-9]*' <<<'$bc' | sort | uniq -d)\" ]"

pretty "killing h3 with SIGKILL"
eval "pid=\$PID_h3"
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
ws_check "with h3 dead, c2 cannot reach c4" bash -c "! ip netns exec $p-c2 ping -c 1 -W 1 10.32.0.4 >/dev/null"
ws_check "with h3 dead, h1 drops h4 from its routes" bash -c "for _ in \$(seq 50); do '$WS_BIN' status peers --api $WS_TMP/h1.sock --json | jq -e '.[] | select(.name==\"02:00:00:00:00:04\" and .reachable)' >/dev/null || exit 0; sleep 0.2; done; exit 1"

pretty "restarting h3 with the same data dir (no --join: the secret is kept there)"
router_up "$p-h3" h3 "$WS_TMP/h3.log" --name 02:00:00:00:00:03 --nickname h3 --listen 0.0.0.0:6783 --peer 198.18.13.1
ws_check "h3 restarted with the secret kept in its data dir" bash -c "'$WS_BIN' status --api $WS_TMP/h3.sock --json | jq -e '.secret == \"data-dir\"' >/dev/null"
wait_links h3 3 40
ws_check "after h3's restart every pair pings again" all_pairs 1 2 3 4 5
ws_check "h3 kept its container's address" bash -c "ip -n $p-c3 -br addr show ethws | grep -q 10.32.0.3/12"

pretty "h6 starts alone and joins at run time: weave-switch connect (only h5's address)"
# The secret file is a valid --password-file.
router_up "$p-h6" h6 "$WS_TMP/h6.log" --name 02:00:00:00:00:06 --nickname h6 --listen 0.0.0.0:6783 --password-file "$WS_TMP/h1/mesh-secret"
ws connect --api "$WS_TMP/h6.sock" 198.18.56.5
ws attach --api "$WS_TMP/h6.sock" "$p-c6" 10.32.0.6/12 >/dev/null
wait_links h6 1
ws_check "h6 learns the whole mesh from gossip" bash -c "for _ in \$(seq 50); do [ \$('$WS_BIN' status peers --api $WS_TMP/h6.sock --json | jq '[.[] | select(.reachable)] | length') -eq 6 ] && exit 0; sleep 0.2; done; exit 1"
ws_check "c6 reaches every other container" all_pairs 6 1 2 3 4 5
# Idle connections carry a summary every 30 s: a router whose links are
# all quiet must not call itself unhealthy for lack of gossip.
pretty "idle 40 s"
sleep 40
ws_check "after 40 s idle every router is healthy (status exits 0)" bash -c \
	"for i in 1 2 3 4 5 6; do '$WS_BIN' status --api $WS_TMP/h\$i.sock >/dev/null || exit 1; done"
ws forget --api "$WS_TMP/h6.sock" 198.18.56.5
# forget drops h6's own connection to h5 and never dials it again (h5 may
# still dial h6, having discovered it: that is its business).
ws_check "after forget, h6 no longer dials h5" bash -c \
	"for _ in \$(seq 50); do '$WS_BIN' status --api $WS_TMP/h6.sock --json | jq -e '.connections[] | select(.direction==\"outbound\" and .address==\"198.18.56.5:6783\")' >/dev/null || exit 0; sleep 0.2; done; exit 1"
ws_check "forgetting an unknown address is an error" bash -c "! '$WS_BIN' forget --api $WS_TMP/h6.sock 198.18.99.9 2>/dev/null"

for i in 1 2 3 4 5 6; do router_down "h$i"; done
ws_check "teardown left no bridge behind" bash -c "for i in 1 2 4 5 6; do ip -n $p-h\$i link show weave 2>/dev/null && exit 1; done; exit 0"
[ $WS_FAILED -eq 0 ]
