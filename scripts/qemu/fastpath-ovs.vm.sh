#!/usr/bin/env bash
# End-to-end test of the OVS fast path (--datapath ovs) with real routers.
# It needs the openvswitch module, so scripts/qemu-ovs-test.sh runs it
# inside its VM (the layout there mirrors the repository: /ws/bin and
# /ws/scripts).
#
#   c1 10.32.0.1                                   c2 10.32.0.2
#   [bridge weave + TAP + weave-dpb ═ weave-dp + weave-dpvx]  h1 ═ veth ═ h2 [...]
#                 198.18.0.1/24                    198.18.0.2/24
#
# Asserts: the routers pick ovs, containers talk (ARP over userspace),
# the links come up on the fast path (heartbeats through the datapaths),
# ping installs flows from misses and a second round misses no more;
# when nftables blocks UDP 6785 the link falls back to userspace, its
# flows go and traffic keeps flowing; when unblocked it returns to the
# fast path; teardown removes the datapath and its ports.
set -euo pipefail
cd "$(dirname "$0")/../.."
WS_TMP=${WS_TMP:-$(mktemp -d /tmp/wso.XXXXXX)} # busybox mktemp wants six X
. scripts/lib.sh

[ "$(id -u)" -eq 0 ] || { echo "fastpath-ovs: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN"

p=wso-$WS_ID
h1=$p-h1 h2=$p-h2 c1=$p-c1 c2=$p-c2
nft_table=wso_$WS_ID
unblock() { ip netns exec "$h1" nft delete table inet "$nft_table" 2>/dev/null || true; }
trap 'unblock; ws_finish fastpath-ovs' EXIT

for n in $h1 $h2 $c1 $c2; do ns_add "$n"; done
link_ns "$h1" "$h2" ul0 ul0 198.18.0.1/24 198.18.0.2/24

pretty "starting routers with --datapath ovs"
router_up "$h1" h1 "$WS_TMP/h1.log" --name 02:00:00:00:00:01 --nickname h1 --listen 198.18.0.1:6783 --datapath ovs --insecure --peer 198.18.0.2 --log-level debug
router_up "$h2" h2 "$WS_TMP/h2.log" --name 02:00:00:00:00:02 --nickname h2 --listen 198.18.0.2:6783 --datapath ovs --insecure --peer 198.18.0.1
wait_links h1 1 60
wait_links h2 1 60
ws attach --api "$WS_TMP/h1.sock" "$c1" 10.32.0.1/12 >/dev/null
ws attach --api "$WS_TMP/h2.sock" "$c2" 10.32.0.2/12 >/dev/null
mac() { ip -n "$1" -j link show ethws | jq -r '.[0].address'; }
mac1=$(mac "$c1") mac2=$(mac "$c2")

fast() { ws status fastpath --json --api "$WS_TMP/$1.sock"; }
link_state() { fast "$1" | jq -r --arg p "$2" '.links[] | select(.peer==$p) | .state'; }
wait_state() { # wait_state ROUTER PEER STATE SECONDS
	local i
	for i in $(seq $(($4 * 10))); do
		[ "$(link_state "$1" "$2")" = "$3" ] && return 0
		sleep 0.1
	done
	return 1
}
misses() { fast "$1" | jq '.misses'; }
flows() { fast "$1" | jq '[.table[] | select(.kind=="flow")] | length'; }
now() { cut -d' ' -f1 /proc/uptime; } # busybox date has no %N
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

ws_check "status fastpath: backend ovs, asked for, datapath weave-dp" \
	bash -c "'$WS_BIN' status fastpath --json --api $WS_TMP/h1.sock | jq -e '.backend==\"ovs\" and (.reason|test(\"asked\")) and .device==\"weave-dp\"' >/dev/null"
ws_check "the datapath's bridge port has learning and flooding off" \
	bash -c "bridge -n $h1 -d link show dev weave-dpb | grep -q 'learning off' && bridge -n $h1 -d link show dev weave-dpb | grep -q 'flood off'"
ws_check "ping c1 -> c2 (ARP over userspace)" in_ns "$c1" ping -c 3 -W 5 10.32.0.2
ws_check "h1's link to h2 comes up on the fast path" wait_state h1 02:00:00:00:00:02 up 30
ws_check "h2's link to h1 comes up on the fast path" wait_state h2 02:00:00:00:00:01 up 30
ws_check "status connections shows fastpath" bash -c "'$WS_BIN' status connections --api $WS_TMP/h1.sock | grep -q ' h2 .* fast '"

# Round 1 installs the container flows, once h2 offloads too (each router
# syncs on its own tick); round 2 misses no more.
has_flow() { fast h1 | jq -e --arg m "$1" --arg d "$2" '[.table[] | select(.kind=="flow" and .mac==$m and (.detail|contains($d)))] | length > 0' >/dev/null; }
round1() {
	local i
	for i in $(seq 30); do
		in_ns "$c1" ping -c 1 -W 2 10.32.0.2 >/dev/null || true
		has_flow "$mac2" "set(tunnel" && has_flow "$mac1" "tunnel(id=" && return 0
		sleep 0.2
	done
	return 1
}
ws_check "round 1: h1 installed c1 -> c2 (into the tunnel) and c2 -> c1 (out of it) from misses" round1
m1=$(misses h1) f1=$(flows h1) r1=$(ws status --api "$WS_TMP/h1.sock" --json | jq '.data.from_bridge')
pretty "h1: $f1 flows (with the heartbeats'), $m1 misses so far"
ws_check "ping c1 -> c2 on the fast path" in_ns "$c1" ping -c 5 -W 5 10.32.0.2
m2=$(misses h1) r2=$(ws status --api "$WS_TMP/h1.sock" --json | jq '.data.from_bridge')
ws_check "the second round caused no misses on h1 ($m1 -> $m2)" test "$m2" = "$m1"
[ "$m2" = "$m1" ] || { grep 'ovs: miss' "$WS_TMP/h1.log" | tail -n $((m2 - m1)); fast h1 | jq -cM '.table[]'; } >&2
ws_check "the router read almost nothing from the bridge meanwhile ($((r2 - r1)) frames)" test $((r2 - r1)) -lt 5

pretty "blocking UDP 6785 between h1 and h2 (nftables table $nft_table in $h1)"
ip netns exec "$h1" nft -f - <<NFT
table inet $nft_table {
	chain in { type filter hook input priority -10; ip saddr 198.18.0.2 udp dport 6785 drop; }
	chain out { type filter hook output priority -10; ip daddr 198.18.0.2 udp dport 6785 drop; }
}
NFT
t0=$(now)
in_ns "$c1" ping -i 0.2 -w 15 10.32.0.2 >"$WS_TMP/ping-block.out" 2>&1 &
ping_pid=$!
WS_PIDS+=("$ping_pid")
if wait_state h1 02:00:00:00:00:02 probe 30; then
	fallback=$(secs_since "$t0")
	WS_PASSED=$((WS_PASSED + 1))
	pretty "ok: h1-h2 fell back to userspace after ${fallback}s"
else
	WS_FAILED=$((WS_FAILED + 1)); WS_FAILURES+=("h1-h2 did not fall back within 30 s")
	echo "FAIL: h1-h2 did not fall back within 30 s" >&2
	fallback=-1
fi
container_flows() { fast h1 | jq --arg a "$mac1" --arg b "$mac2" '[.table[] | select(.kind=="flow" and (.mac==$a or .mac==$b))] | length'; }
gone() { local i; for i in $(seq 50); do [ "$(container_flows)" = 0 ] && return 0; sleep 0.1; done; return 1; }
ws_check "h1 withdrew the container flows to and from h2" gone
wait "$ping_pid" || true
ws_check "traffic kept flowing over userspace during the block ($(grep -o '[0-9.]*% packet loss' "$WS_TMP/ping-block.out" || echo '?'))" \
	bash -c "grep -Eq ' [1-9][0-9]* packets received' $WS_TMP/ping-block.out"
ws_check "ping c1 -> c2 over userspace" in_ns "$c1" ping -c 3 -W 5 10.32.0.2

pretty "unblocking"
unblock
t0=$(now)
if wait_state h1 02:00:00:00:00:02 up 30; then
	recovery=$(secs_since "$t0")
	WS_PASSED=$((WS_PASSED + 1))
	pretty "ok: h1-h2 back on the fast path after ${recovery}s"
else
	WS_FAILED=$((WS_FAILED + 1)); WS_FAILURES+=("h1-h2 did not return to the fast path within 30 s")
	echo "FAIL: h1-h2 did not return to the fast path within 30 s" >&2
	recovery=-1
fi
in_ns "$c1" ping -c 2 -W 5 10.32.0.2 >/dev/null || true
m3=$(misses h1)
ws_check "ping c1 -> c2 on the fast path again" in_ns "$c1" ping -c 3 -W 5 10.32.0.2
ws_check "no new misses once the flows are back ($m3 -> $(misses h1))" bash -c "test \$('$WS_BIN' status fastpath --json --api $WS_TMP/h1.sock | jq .misses) = $m3"
ws_check "status fastpath counts a fallback and a recovery" bash -c "'$WS_BIN' status fastpath --json --api $WS_TMP/h1.sock | jq -e '.links[] | select(.peer==\"02:00:00:00:00:02\") | .fallbacks>=1 and .recoveries>=1' >/dev/null"

router_down h1
ws_check "h1 teardown removed the datapath and its ports" bash -c "[ -z \"\$(ip -n $h1 -br link show | grep -v -e '^lo ' -e '^ul0@')\" ]"
printf 'fast path ovs (under TCG): fallback after %ss, recovery after %ss\n' "$fallback" "$recovery"
[ $WS_FAILED -eq 0 ]
