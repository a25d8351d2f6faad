#!/usr/bin/env bash
# Application isolation, host integration and mobility end to end: real
# `weave-switch up` on three hosts, containers as namespaces, real traffic.
#
#   a1 a2 b1 w1                  b2 m (moves to h3)          a3 w3 m'
#      \ | | /                        \ /                      | | /
#   [h1 router] ------ .12 ------ [h2 router] ------ .23 ---- [h3 router]
#        |    \___________________ .13 _____________________/
#        | 192.0.2.0/24
#      [out]   a host outside the weave network (publish/import/masquerade)
#
# Applications: A = 10.40.1.0/24 (a1 a2 a3, m), B = 10.40.2.0/24 (b1 b2),
# app:web (w1 w3, allocated). Every container also gets an on-link route to
# the other application's subnet, so that only the isolation filter, not
# routing, stands between them.
#
# Asserts: one application talks on one host and across hosts; two are
# isolated both ways on one host and across hosts (counted as drops);
# a container that takes another application's address or another MAC
# gets nothing through; allow on one router opens a pair on all of them
# and deny on another closes it; expose lets a host reach containers on
# other hosts and back, hide takes it away; publish reaches a container on
# another host from outside, import reaches an outside service from
# containers, masquerade lets containers out; a router killed with SIGKILL
# keeps its containers filtered after restart; a container moves from h2
# to h3 with its address and MAC and traffic to it resumes with nothing
# else reconfigured; teardown removes the tables and addresses and
# restores IP forwarding. Needs root; names are unique per run and
# everything is removed on exit, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-isolation-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"
command -v nft >/dev/null || fail "nft missing (scripts/deps.sh installs nftables)"

trap 'ws_finish netns-isolation-test' EXIT

p=wsx-$WS_ID
for h in h1 h2 h3 out; do ns_add "$p-$h"; done
for c in a1 a2 a3 b1 b2 w1 w3 m m3; do ns_add "$p-$c"; done
link_ns "$p-h1" "$p-h2" u12 u21 198.18.12.1/24 198.18.12.2/24
link_ns "$p-h2" "$p-h3" u23 u32 198.18.23.2/24 198.18.23.3/24
link_ns "$p-h1" "$p-h3" u13 u31 198.18.13.1/24 198.18.13.3/24
link_ns "$p-h1" "$p-out" uo ou 192.0.2.1/24 192.0.2.2/24

n1=02:00:00:00:02:01 n2=02:00:00:00:02:02 n3=02:00:00:00:02:03
seeds=(--ipalloc-seed "$n1" --ipalloc-seed "$n2" --ipalloc-seed "$n3" --password-file "$WS_TMP/pw")
printf 'isolation-test-secret\n' >"$WS_TMP/pw"
start_h1() { router_up "$p-h1" h1 "$WS_TMP/h1.log" --name $n1 --nickname h1 "${seeds[@]}" --peer 198.18.12.2 --peer 198.18.13.3; }
start_h2() { router_up "$p-h2" h2 "$WS_TMP/h2.log" --name $n2 --nickname h2 "${seeds[@]}" --peer 198.18.12.1 --peer 198.18.23.3; }
start_h3() { router_up "$p-h3" h3 "$WS_TMP/h3.log" --name $n3 --nickname h3 "${seeds[@]}" --peer 198.18.13.1 --peer 198.18.23.2; }
pretty "starting three routers"
fwd_before=$(ip netns exec "$p-h1" cat /proc/sys/net/ipv4/ip_forward)
start_h1
start_h2
start_h3
wait_links h1 2
wait_links h2 2
wait_links h3 2

on() { local h=$1; shift; "$WS_BIN" "$@" --api "$WS_TMP/$h.sock"; }
pings() { in_ns "$p-$1" ping -c 2 -i 0.2 -W 1 "${@:2}" >/dev/null 2>&1; }
no_ping() { ! in_ns "$p-$1" ping -c 2 -i 0.2 -W 1 "${@:2}" >/dev/null 2>&1; }
addr_of() { ip -n "$p-$1" -4 -j addr show ethws | jq -r '.[0].addr_info[0].local'; }
veth_of() { on "$1" status attachments --json | jq -r --arg n "/run/netns/$p-$2" '.[] | select(.netns==$n) | .host_veth'; }
drops() { # drops HOST CONTAINER FIELD: a port's drop counter
	on "$1" status isolation --json | jq -r --arg v "$(veth_of "$1" "$2")" --arg f "$3" '.drops[$v][$f] // 0'
}
export -f on in_ns pings no_ping drops veth_of
export WS_BIN WS_TMP p

pretty "attaching containers: A = 10.40.1.0/24, B = 10.40.2.0/24, app:web"
on h1 attach "$p-a1" 10.40.1.1/24 >/dev/null
on h1 attach "$p-a2" 10.40.1.2/24 >/dev/null
on h3 attach "$p-a3" 10.40.1.3/24 >/dev/null
on h1 attach "$p-b1" 10.40.2.1/24 >/dev/null
on h2 attach "$p-b2" 10.40.2.2/24 >/dev/null
on h1 attach "$p-w1" app:web >/dev/null
on h3 attach "$p-w3" app:web >/dev/null
w1=$(addr_of w1) w3=$(addr_of w3)
for c in a1 a2 a3; do ip -n "$p-$c" route add 10.40.2.0/24 dev ethws; done
for c in b1 b2; do ip -n "$p-$c" route add 10.40.1.0/24 dev ethws; done
ip -n "$p-a1" route add "$w3/32" dev ethws

ws_check "status isolation: the filter is on" bash -c "on h1 status isolation --json | jq -e '.isolation' >/dev/null"
ws_check "one table per router, in the bridge family" bash -c "ip netns exec $p-h1 nft list tables | grep -qx 'table bridge weave-switch-weave'"
ws_check "A talks on one host (a1 -> a2)" pings a1 10.40.1.2
ws_check "A talks across hosts (a1 -> a3)" pings a1 10.40.1.3
ws_check "B talks across hosts (b2 -> b1)" pings b2 10.40.2.1
ws_check "app:web talks across hosts (w1 -> w3, $w1 -> $w3)" pings w1 "$w3"

pretty "isolation"
ws_check "A -/-> B on one host (a1 -> b1)" no_ping a1 10.40.2.1
ws_check "B -/-> A on one host (b1 -> a2)" no_ping b1 10.40.1.2
ws_check "A -/-> B across hosts (a3 -> b2)" no_ping a3 10.40.2.2
ws_check "B -/-> A across hosts (b2 -> a1)" no_ping b2 10.40.1.1
ws_check "A -/-> web across hosts (a1 -> w3)" no_ping a1 "$w3"
ws_check "the drops are counted at the receiving ports (b1 on h1, a1 on h1)" \
	bash -c '[ "$(drops h1 b1 other_application)" -gt 0 ] && [ "$(drops h1 a1 other_application)" -gt 0 ]'

pretty "spoofing"
ip -n "$p-b2" addr add 10.40.1.66/24 dev ethws
ws_check "b2 with A's address 10.40.1.66 reaches nobody in A (a3, a1)" \
	bash -c 'no_ping b2 10.40.1.3 -I 10.40.1.66 && no_ping b2 10.40.1.1 -I 10.40.1.66'
ws_check "b2's spoofed frames are dropped where they enter (h2)" bash -c '[ "$(drops h2 b2 spoofed)" -gt 0 ]'
ip -n "$p-b2" addr del 10.40.1.66/24 dev ethws
ws_check "b2 still reaches its own application after the attempt" pings b2 10.40.2.1
mac_b1=$(ip -n "$p-b1" -j link show ethws | jq -r '.[0].address')
mac_a2=$(ip -n "$p-a2" -j link show ethws | jq -r '.[0].address')
ip -n "$p-b1" link set ethws address "$mac_a2"
ip -n "$p-b1" neigh flush all
ws_check "b1 with a2's MAC gets nothing through, not even to B (b2)" bash -c 'no_ping b1 10.40.2.2 && no_ping b1 10.40.1.1'
ws_check "b1's MAC spoofing is counted" bash -c '[ "$(drops h1 b1 spoofed_mac)" -gt 0 ]'
ws_check "a2, whose MAC b1 took, still talks (a2 -> a3)" pings a2 10.40.1.3
ip -n "$p-b1" link set ethws address "$mac_b1"
ws_check "b1 talks again with its own MAC (b1 -> b2)" pings b1 10.40.2.2
ws_check "b1's ARP for an A address gets no answer (the neighbour stays unresolved)" \
	bash -c "ip netns exec $p-b1 ip neigh flush all; ip netns exec $p-b1 ping -c 1 -W 1 10.40.1.2 >/dev/null 2>&1; ! ip -n $p-b1 neigh show 10.40.1.2 | grep -q lladdr"

pretty "allow and deny (given on one router, gossiped to all)"
pair_on() { # pair_on HOST yes|no: wait until HOST's filter has (or lacks) the pair
	for _ in $(seq 100); do
		if on "$1" status isolation --json | jq -e '.allowed | index("10.40.1.0/24 10.40.2.0/24")' >/dev/null; then
			[ "$2" = yes ] && return 0
		else
			[ "$2" = no ] && return 0
		fi
		sleep 0.1
	done
	return 1
}
export -f pair_on
on h1 allow 10.40.1.0/24 10.40.2.0/24
ws_check "allow on h1 reaches h2 and h3" bash -c 'pair_on h2 yes && pair_on h3 yes'
ws_check "allow A B: a1 -> b1 on one host" pings a1 10.40.2.1
ws_check "allow A B: b2 -> a3 across hosts" pings b2 10.40.1.3
ws_check "allow A B does not open web (a1 -> w3)" no_ping a1 "$w3"
ws_check "status isolation lists the pair" bash -c "on h2 status isolation | grep -q 'Allowed: *10.40.1.0/24 10.40.2.0/24'"
on h3 deny 10.40.2.0/24 10.40.1.0/24
ws_check "deny on h3 reaches h1 and h2" bash -c 'pair_on h1 no && pair_on h2 no'
ws_check "deny closes it again (a1 -> b1, b2 -> a3)" bash -c 'no_ping a1 10.40.2.1 && no_ping b2 10.40.1.3'
ws_check "deny of a pair that is not allowed says so" bash -c "! on h1 deny 10.40.1.0/24 10.40.2.0/24 2>/dev/null"

pretty "expose and hide"
on h1 expose 10.40.1.254/24 >/dev/null
ws_check "expose: h1 has 10.40.1.254/24 on its bridge" bash -c "ip -n $p-h1 -br addr show weave | grep -q 10.40.1.254/24"
ws_check "expose: host h1 pings a3 on h3" pings h1 10.40.1.3
ws_check "expose: a3 on h3 pings host h1 back" pings a3 10.40.1.254
ws_check "expose: the exposed host is still isolated from B (b2 -/-> 10.40.1.254)" no_ping b2 10.40.1.254
on h1 hide 10.40.1.254/24 >/dev/null
ws_check "hide: the address is gone" bash -c "! ip -n $p-h1 -br addr show weave | grep -q 10.40.1.254"
ws_check "hide: host h1 no longer reaches a3" no_ping h1 10.40.1.3
exp=$(on h2 expose | head -1)
ws_check "expose without arguments allocates in the default subnet ($exp)" bash -c "[[ '$exp' == 10.3[2-9].* ]]"
on h2 hide >/dev/null
ws_check "hide without arguments removes it" bash -c "! ip -n $p-h2 -br addr show weave | grep -q '${exp%/*}'"

pretty "publish, import, masquerade"
on h1 expose 10.40.1.254/24 >/dev/null
in_ns "$p-a3" iperf3 -s -D -1 -B 10.40.1.3 -p 80 --pidfile "$WS_TMP/pub.pid" >/dev/null
wait_listen "$p-a3" 80
on h1 publish 8080 10.40.1.3:80
ws_check "publish: refused for a container in a subnet h1 has no address in" \
	bash -c "if on h1 publish 8081 10.40.2.2:80 2>$WS_TMP/pub.err; then exit 1; fi; grep -q 'no exposed address' $WS_TMP/pub.err"
sleep 0.3
ws_check "publish: a host outside reaches a3 (on h3) through h1:8080" \
	in_ns "$p-out" iperf3 -c 192.0.2.1 -p 8080 -t 1
ws_check "publish turned IPv4 forwarding on in h1" bash -c "[ \$(ip netns exec $p-h1 cat /proc/sys/net/ipv4/ip_forward) = 1 ]"
on h1 unpublish 8080
ws_check "unpublish: h1:8080 is closed" bash -c "! timeout 5 ip netns exec $p-out iperf3 -c 192.0.2.1 -p 8080 -t 1 >/dev/null 2>&1"
[ -f "$WS_TMP/pub.pid" ] && kill "$(cat "$WS_TMP/pub.pid")" 2>/dev/null || true
in_ns "$p-out" iperf3 -s -D -B 192.0.2.2 -p 9000 --pidfile "$WS_TMP/imp.pid" >/dev/null
wait_listen "$p-out" 9000
on h1 import 10.40.1.254:9000 192.0.2.2:9000
sleep 0.3
ws_check "import: a3 (on h3) reaches the outside service at h1's exposed 10.40.1.254:9000" \
	in_ns "$p-a3" iperf3 -c 10.40.1.254 -p 9000 -t 1
ws_check "import: B cannot use A's import (b2 -> 10.40.1.254:9000)" \
	bash -c "! timeout 5 ip netns exec $p-b2 iperf3 -c 10.40.1.254 -p 9000 -t 1 >/dev/null 2>&1"
on h1 unimport 10.40.1.254:9000
ws_check "unimport: closed" bash -c "! timeout 5 ip netns exec $p-a3 iperf3 -c 10.40.1.254 -p 9000 -t 1 >/dev/null 2>&1"
[ -f "$WS_TMP/imp.pid" ] && kill "$(cat "$WS_TMP/imp.pid")" 2>/dev/null || true
ip -n "$p-a1" route add default via 10.40.1.254
ws_check "without masquerade a1 does not reach the outside (no route back to 10.40.1.0/24)" no_ping a1 192.0.2.2
on h1 expose --masquerade 10.40.1.254/24 >/dev/null
ws_check "expose --masquerade: a1 reaches 192.0.2.2 outside" pings a1 192.0.2.2
ws_check "status isolation shows the masquerade" bash -c "on h1 status isolation | grep -q '10.40.1.254/24 (masquerade)'"

pretty "a router killed with SIGKILL keeps its containers filtered"
kill -KILL "$PID_h2"
wait "$PID_h2" 2>/dev/null || true
PID_h2=
start_h2
wait_links h2 2
ip -n "$p-b2" addr add 10.40.1.66/24 dev ethws
ws_check "after h2's restart b2 still cannot spoof A's address" no_ping b2 10.40.1.3 -I 10.40.1.66
ip -n "$p-b2" addr del 10.40.1.66/24 dev ethws
ws_check "after h2's restart b2 still talks to b1" pings b2 10.40.2.1

pretty "mobility: m moves from h2 to h3 with its address and MAC"
mmac=02:aa:bb:cc:dd:01
on h2 attach --mac $mmac "$p-m" 10.40.1.50/24 >/dev/null
ws_check "attach --mac gives the container that MAC" bash -c "ip -n $p-m link show ethws | grep -q 'link/ether $mmac'"
ws_check "a1 (h1) and a3 (h3) reach m on h2" bash -c 'pings a1 10.40.1.50 && pings a3 10.40.1.50'
moves_before=$({ on h1 status --json || true; } | jq '.switch.moves')
on h2 detach "$p-m"
on h3 attach --mac $mmac "$p-m3" 10.40.1.50/24 >/dev/null
# Traffic resumes: a1 pings right away. On the userspace data path every
# ping is answered; on the kernel fast path a remote host's vxlan FDB
# follows the switch at its next sync (every 250 ms), so the first may be
# lost.
mv_out=$(in_ns "$p-a1" ping -c 5 -i 0.2 -W 2 10.40.1.50 2>&1 || true)
mv_rx=$(sed -n 's/.* \([0-9]*\) received.*/\1/p' <<<"$mv_out")
ws_check "right after the move, traffic from a1 on h1 to m on h3 resumes (${mv_rx:-0} of 5 answered)" \
	bash -c "[ '${mv_rx:-0}' -ge 1 ]"
ws_check "and then every ping is answered" in_ns "$p-a1" ping -c 3 -i 0.2 -W 2 10.40.1.50
ws_check "a3 on h3 reaches m (now local to it)" pings a3 10.40.1.50
ws_check "a1's ARP entry for m is unchanged (same MAC, nothing reconfigured)" \
	bash -c "ip -n $p-a1 neigh show 10.40.1.50 | grep -q 'lladdr $mmac'"
ws_check "h1's switch moved the MAC (switch.moves went up)" \
	bash -c "[ \$(on h1 status --json | jq '.switch.moves') -gt $moves_before ]"
ws_check "h3's bridge learned m's MAC on its new port" \
	bash -c "bridge -n $p-h3 fdb show br weave | grep '^$mmac' | grep -q 'dev $(veth_of h3 m3)'"
ws_check "h1's bridge has m's MAC behind its router port" \
	bash -c "bridge -n $p-h1 fdb show br weave | grep '^$mmac' | grep -vq 'dev vws'"
ws_check "m keeps its isolation on h3 (m -/-> b2)" bash -c "ip -n $p-m3 route add 10.40.2.0/24 dev ethws; no_ping m3 10.40.2.2"

pretty "teardown"
router_down h1
router_down h2
router_down h3
ws_check "no weave-switch nftables tables left on any host" \
	bash -c "for h in h1 h2 h3; do ip netns exec $p-\$h nft list tables | grep -q weave-switch && exit 1; done; exit 0"
ws_check "IPv4 forwarding on h1 restored to $fwd_before" \
	bash -c "[ \$(ip netns exec $p-h1 cat /proc/sys/net/ipv4/ip_forward) = $fwd_before ]"
ws_check "no host-side state file left" bash -c "! ls $WS_TMP/h1/host-side.json 2>/dev/null"
[ $WS_FAILED -eq 0 ]
