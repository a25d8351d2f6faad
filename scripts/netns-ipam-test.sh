#!/usr/bin/env bash
# IP address management end to end: three hosts, containers attached
# without addresses, application subnets, a router restart, rmpeer.
#
#        c1a c1b c1w          c2a c2n c2m             c3a c3w
#            \ | /               \ | /                   \ /
#          [h1 router] --.12-- [h2 router] --.23-- [h3 router]
#                \_______________.13______________/
#
# h1 and h2 are the seeds of the allocation ring (--ipalloc-seed, the same
# list on both); h3 starts alone (seeding a ring of its own), is connected
# to h1 at run time, and its unused ring gives way to the cluster's.
#
# Asserts: containers attached without addresses get unique ones in the
# default subnet and ping each other across hosts; app:web on two hosts
# lands in one /24 and the two ping; net:CIDR and several specs at once; an
# explicit CIDR is claimed; detach releases; a router killed with SIGKILL
# and started again on its data dir keeps every address, and a re-attach
# gets the same one; rmpeer is refused for a live peer and reclaims a
# stopped one's space. Needs root; names are unique per run and everything
# is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-ipam-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"

trap 'ws_finish netns-ipam-test' EXIT

p=wsi-$WS_ID
for h in h1 h2 h3; do ns_add "$p-$h"; done
for c in c1a c1b c1w c2a c2n c2m c3a c3w; do ns_add "$p-$c"; done
link_ns "$p-h1" "$p-h2" u12 u21 198.18.12.1/24 198.18.12.2/24
link_ns "$p-h2" "$p-h3" u23 u32 198.18.23.2/24 198.18.23.3/24
link_ns "$p-h1" "$p-h3" u13 u31 198.18.13.1/24 198.18.13.3/24

n1=02:00:00:00:01:01 n2=02:00:00:00:01:02 n3=02:00:00:00:01:03
seeds=(--ipalloc-seed "$n1" --ipalloc-seed "$n2")
# The mesh's secret, shared through the environment.
export WEAVE_SWITCH_PASSWORD=ipam-test-secret
start_h1() { router_up "$p-h1" h1 "$WS_TMP/h1.log" --name $n1 --nickname h1 "${seeds[@]}" --peer 198.18.12.2 --peer 198.18.13.3 "$@"; }
start_h2() { router_up "$p-h2" h2 "$WS_TMP/h2.log" --name $n2 --nickname h2 "${seeds[@]}" --peer 198.18.12.1 --peer 198.18.23.3; }
start_h3() { router_up "$p-h3" h3 "$WS_TMP/h3.log" --name $n3 --nickname h3; }
pretty "starting three routers (h1, h2 seed the ring; h3 starts alone, then connects)"
start_h1
start_h2
start_h3
"$WS_BIN" connect 198.18.13.1 --api "$WS_TMP/h3.sock"
wait_links h1 2
wait_links h2 2
wait_links h3 2

on() { local h=$1; shift; "$WS_BIN" "$@" --api "$WS_TMP/$h.sock"; }
export -f on
export WS_BIN WS_TMP
# addr_of NS: the container's first IPv4 address (without the prefix length).
addr_of() { ip -n "$p-$1" -4 -j addr show ethws | jq -r '.[0].addr_info[0].local'; }
addrs_of() { ip -n "$p-$1" -4 -j addr show ethws | jq -r '.[0].addr_info[] | "\(.local)/\(.prefixlen)"' | sort; }

pretty "attaching containers without addresses"
on h1 attach "$p-c1a" >/dev/null
on h1 attach "$p-c1b" >/dev/null
on h2 attach "$p-c2a" >/dev/null
on h3 attach "$p-c3a" >/dev/null
a1a=$(addr_of c1a) a1b=$(addr_of c1b) a2a=$(addr_of c2a) a3a=$(addr_of c3a)
pretty "got c1a=$a1a c1b=$a1b c2a=$a2a c3a=$a3a"
ws_check "four containers got four distinct addresses" \
	bash -c "[ \$(printf '%s\n' $a1a $a1b $a2a $a3a | sort -u | wc -l) -eq 4 ]"
ws_check "automatic addresses are in the default subnet 10.32.0.0/13" \
	bash -c "ip -n $p-c1a -br addr show ethws | grep -q '10\.3[2-9]\.[0-9]*\.[0-9]*/13' && ip -n $p-c3a -br addr show ethws | grep -q '/13'"
ws_check "ping c1a -> c2a across hosts" in_ns "$p-c1a" ping -c 2 -i 0.2 -W 2 "$a2a"
ws_check "ping c2a -> c3a across hosts" in_ns "$p-c2a" ping -c 2 -i 0.2 -W 2 "$a3a"
ws_check "ping c3a -> c1b across hosts" in_ns "$p-c3a" ping -c 2 -i 0.2 -W 2 "$a1b"

pretty "application and explicit subnets"
on h1 attach "$p-c1w" app:web >/dev/null
on h3 attach "$p-c3w" app:web >/dev/null
on h2 attach "$p-c2n" net:10.32.5.0/24 >/dev/null
on h2 attach "$p-c2m" net:default app:db >/dev/null
w1=$(addr_of c1w) w3=$(addr_of c3w)
ws_check "app:web on h1 and h3 share one /24 in 10.40.0.0/13 ($w1, $w3)" \
	bash -c "[ '${w1%.*}' = '${w3%.*}' ] && [ '$w1' != '$w3' ] && ip -n $p-c1w -br addr show ethws | grep -q '10\.4[0-7]\.[0-9]*\.[0-9]*/24'"
ws_check "app:web containers ping each other across hosts" in_ns "$p-c1w" ping -c 2 -i 0.2 -W 2 "$w3"
ws_check "net:10.32.5.0/24 gives an address in it" bash -c "ip -n $p-c2n -br addr show ethws | grep -q '10\.32\.5\.[0-9]*/24'"
ws_check "two specs at once give two addresses (default and app:db)" \
	bash -c "[ \$(ip -n $p-c2m -4 -br addr show ethws | wc -w) -eq 4 ] && ip -n $p-c2m -br addr show ethws | grep -q '/13' && ip -n $p-c2m -br addr show ethws | grep -q '/24'"
ws_check "a subnet outside the range is a clear error" \
	bash -c "on h1 attach $p-c1a net:192.168.0.0/24 2>&1 | grep -q 'not inside the allocation range'"

pretty "explicit address: claimed from its owner"
on h3 attach "$p-c3a" 10.32.7.7/13 >/dev/null
ws_check "h3 holds the explicit 10.32.7.7 for c3a in its allocations" bash -c "
	for i in \$(seq 50); do
		on h3 status ipam --json | jq -e '.allocations[] | select(.key | endswith(\"$p-c3a\")) | .addrs | index(\"10.32.7.7\")' >/dev/null && exit 0
		sleep 0.2
	done; exit 1"

ws_check "h3's own unused ring gave way: one ring seeded by h1 and h2" bash -c "
	on h3 status ipam --json | jq -e '.seeds == [\"$n1\", \"$n2\"]'"
ws_check "status ipam lists three peers owning the whole range" bash -c "
	on h2 status ipam --json | jq -e '(.peers | length) == 3 and ([.peers[].addresses] | add) == 1048576 and .state == \"ready\"'"
ws_check "status ipam prints a table" bash -c "on h1 status ipam | grep -q 'PEER' && on h1 status ipam | grep -q '$p-c1a'"

ws_check "Prometheus metrics count h1's allocated addresses" bash -c "
	curl -sf --unix-socket $WS_TMP/h1.sock http://weave-switch/metrics | grep -q '^weave_switch_ipam_allocated_addresses [1-9]'"

pretty "detach releases"
on h2 detach "$p-c2n"
ws_check "the detached container's address is released" bash -c "
	! on h2 status ipam --json | jq -e '.allocations[] | select(.key | endswith(\"$p-c2n\"))' >/dev/null"

ws_check "detach of a namespace that is gone releases its address" bash -c "
	ip netns add $p-gone && on h2 attach $p-gone >/dev/null && ip netns del $p-gone &&
	on h2 detach $p-gone | grep -q '^released' &&
	! on h2 status ipam --json | jq -e '.allocations[] | select(.key | endswith(\"$p-gone\"))' >/dev/null"

pretty "router restart: kill -9 h1, start it again on the same data dir"
before=$(on h1 status ipam --json | jq -c '[.allocations[] | {key, addrs}]')
kill -KILL "$PID_h1"
wait "$PID_h1" 2>/dev/null || true
PID_h1=
start_h1
wait_links h1 2
after=$(on h1 status ipam --json | jq -c '[.allocations[] | {key, addrs}]')
ws_check "h1's allocations survived the restart" test "$before" = "$after"
ws_check "re-attaching c1a after the restart gives the same address" \
	bash -c "on h1 attach $p-c1a | grep -q '^$a1a/'"
ws_check "a new container on h1 gets a new address" bash -c "
	ns_new=$p-c1x; ip netns add \$ns_new && trap 'ip netns del \$ns_new' EXIT
	a=\$(on h1 attach \$ns_new | head -1); a=\${a%/*}
	for x in $a1a $a1b $a2a $a3a; do [ \"\$a\" != \"\$x\" ] || exit 1; done
	on h1 detach \$ns_new"
ws_check "ping c1a -> c3a after the restart" in_ns "$p-c1a" ping -c 2 -i 0.2 -W 2 "$a3a"

pretty "rmpeer"
out=$(on h1 rmpeer h3 2>&1 || true)
ws_check "rmpeer of a live peer is refused ($out)" grep -q 'alive and reachable' <<<"$out"
router_down h3
out=""
for _ in $(seq 50); do
	if out=$(on h1 rmpeer h3 2>&1); then break; fi
	sleep 0.2
done
ws_check "rmpeer of the stopped h3 reclaims its space ($out)" grep -q '^reclaimed [0-9]* addresses' <<<"$out"
ws_check "h2 sees h3 removed and owning nothing" bash -c "
	for i in \$(seq 50); do
		on h2 status ipam --json | jq -e '.peers[] | select(.name == \"$n3\") | .removed and .addresses == 0' >/dev/null && exit 0
		sleep 0.2
	done; exit 1"
out=$(on h2 rmpeer h3 2>&1 || true)
ws_check "a second rmpeer of h3 is refused ($out)" grep -q 'refused' <<<"$out"
ws_check "containers on h1 and h2 still ping after the reclaim" in_ns "$p-c1a" ping -c 2 -i 0.2 -W 2 "$a2a"
