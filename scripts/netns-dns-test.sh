#!/usr/bin/env bash
# Service discovery end to end: three hosts in a partial mesh, containers
# attached with --name, names resolved from inside the containers with
# getent hosts (through the resolv.conf attach writes), a forwarded name,
# detach, a restart, peer death and rmpeer.
#
#        c1a c1b              c2a                 c3a
#           \ /                 |                   |
#        [h1 router] --.12-- [h2 router] --.23-- [h3 router]      up (upstream resolver,
#                                                                  dnsmasq, on h1's underlay)
#
# h1 and h3 have no direct link: names cross two gossip hops. Every
# router exposes 10.32.0.25x/12 on its bridge, which is where its DNS
# listens (the bridge's address, port 53). Needs root and dnsmasq; names
# are unique per run and everything is removed on exit, /etc/netns
# entries included.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-dns-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"
command -v dnsmasq >/dev/null || fail "no dnsmasq (apt-get install dnsmasq-base)"

p=wsd-$WS_ID
finish() {
	rm -rf /etc/netns/"$p"-*
	ws_finish netns-dns-test
}
trap finish EXIT

for h in h1 h2 h3 up; do ns_add "$p-$h"; done
for c in c1a c1b c2a c3a; do ns_add "$p-$c"; done
link_ns "$p-h1" "$p-h2" u12 u21 198.18.12.1/24 198.18.12.2/24
link_ns "$p-h2" "$p-h3" u23 u32 198.18.23.2/24 198.18.23.3/24
link_ns "$p-h1" "$p-up" u1u uu1 198.18.99.1/24 198.18.99.53/24

# The upstream resolver: dnsmasq answering one name of its own.
in_ns "$p-up" dnsmasq --no-daemon --no-resolv --no-hosts --listen-address=198.18.99.53 --bind-interfaces \
	--address=/outside.example.test/192.0.2.77 --pid-file="$WS_TMP/dnsmasq.pid" >"$WS_TMP/dnsmasq.log" 2>&1 &
WS_PIDS+=("$!")
# h1's router reads this as its /etc/resolv.conf (ip netns exec mounts it).
mkdir -p "/etc/netns/$p-h1"
echo "nameserver 198.18.99.53" >"/etc/netns/$p-h1/resolv.conf"

n1=02:00:00:00:0d:01 n2=02:00:00:00:0d:02 n3=02:00:00:00:0d:03
export WEAVE_SWITCH_PASSWORD=dns-test-secret
start_h1() { router_up "$p-h1" h1 "$WS_TMP/h1.log" --name $n1 --nickname h1 --peer 198.18.12.2 --dns-listen 10.32.0.251:53 "$@"; }
start_h2() { router_up "$p-h2" h2 "$WS_TMP/h2.log" --name $n2 --nickname h2 --peer 198.18.12.1 --peer 198.18.23.3 --dns-listen 10.32.0.252:53; }
start_h3() { router_up "$p-h3" h3 "$WS_TMP/h3.log" --name $n3 --nickname h3 --peer 198.18.23.2 --dns-listen 10.32.0.253:53; }
on() { local h=$1; shift; "$WS_BIN" "$@" --api "$WS_TMP/$h.sock"; }
export -f on
export WS_BIN WS_TMP

pretty "starting three routers"
start_h1
start_h2
start_h3
wait_links h1 1
wait_links h2 2
wait_links h3 1
on h1 expose 10.32.0.251/12 >/dev/null
on h2 expose 10.32.0.252/12 >/dev/null
on h3 expose 10.32.0.253/12 >/dev/null

# resolves NS NAME [ADDR]: getent in container NS finds NAME (with ADDR).
resolves() { local out; out=$(in_ns "$p-$1" getent ahostsv4 "$2") && { [ -z "${3:-}" ] || grep -qw "$3" <<<"$out"; }; }
# eventually SECS CMD...: CMD succeeds within SECS seconds.
eventually() { local s=$1; shift; for _ in $(seq $((s * 10))); do "$@" && return 0; sleep 0.1; done; "$@"; }
unresolved() { ! resolves "$@"; }
export -f resolves eventually unresolved
export p

pretty "attaching named containers"
t0=$(date +%s%N)
on h1 attach "$p-c1a" 10.32.1.1/12 --name web >/dev/null
eventually 30 resolves c3a web.weave.local 10.32.1.1 || true
t1=$(date +%s%N)
pretty "attach --name on h1 to resolving on h3 (two gossip hops): $(((t1 - t0) / 1000000)) ms"
on h3 attach "$p-c3a" 10.32.3.1/12 --name db >/dev/null
on h2 attach "$p-c2a" 10.32.2.1/12 --name web >/dev/null
on h1 attach "$p-c1b" 10.32.1.2/12 --name solo --no-resolv-conf >/dev/null

ws_check "attach wrote the container's resolv.conf" grep -q "nameserver 10.32.0.251" "/etc/netns/$p-c1a/resolv.conf"
ws_check "--no-resolv-conf wrote none" test ! -e "/etc/netns/$p-c1b/resolv.conf"
ws_check "c3a on h3 finds web on h1 (search domain)" eventually 20 resolves c3a web 10.32.1.1
ws_check "c1a on h1 finds db on h3" eventually 20 resolves c1a db.weave.local 10.32.3.1
ws_check "web answers both containers" eventually 20 bash -c "in_ns $p-c3a getent ahostsv4 web.weave.local | grep -qw 10.32.1.1 && in_ns $p-c3a getent ahostsv4 web.weave.local | grep -qw 10.32.2.1"
ws_check "an unknown name in the domain does not resolve" unresolved c1a nobody.weave.local
ws_check "a name outside the domain is forwarded to h1's upstream" resolves c1a outside.example.test 192.0.2.77
ws_check "status dns lists db with its owner h3" bash -c "on h1 status dns --json | jq -e '.entries[] | select(.name==\"db.weave.local.\" and .owner==\"$n3\")'"

pretty "dns-add and dns-remove"
on h2 dns-add 10.32.2.9 extra >/dev/null
ws_check "dns-add on h2 resolves on h1" eventually 20 resolves c1a extra.weave.local 10.32.2.9
ws_check "dns-remove on h1 of h2's name is refused" bash -c "! on h1 dns-remove 10.32.2.9 extra"
on h2 dns-remove 10.32.2.9 >/dev/null
ws_check "dns-remove on h2 removes it on h1" eventually 20 unresolved c1a extra.weave.local

pretty "detach"
on h2 detach "$p-c2a" >/dev/null
ws_check "detach removes the name everywhere" eventually 20 bash -c "! in_ns $p-c3a getent ahostsv4 web.weave.local | grep -qw 10.32.2.1"
on h1 detach "$p-c1a" >/dev/null
ws_check "detach removes the resolv.conf it wrote" test ! -e "/etc/netns/$p-c1a/resolv.conf"
on h1 attach "$p-c1a" 10.32.1.1/12 --name web >/dev/null

pretty "a router killed and started again keeps its names"
kill -KILL "$PID_h1"; wait "$PID_h1" 2>/dev/null || true
start_h1
wait_links h1 1
on h1 expose 10.32.0.251/12 >/dev/null
ws_check "after h1's restart, web still resolves on h3" eventually 20 resolves c3a web 10.32.1.1
ws_check "and on h1 itself" eventually 20 resolves c1a web 10.32.1.1

pretty "a flood of queries does not stop the router"
in_ns "$p-c1a" bash -c 'for i in $(seq 2000); do getent ahostsv4 "flood$i.example.test" >/dev/null & [ $((i % 200)) -eq 0 ] && wait; done; wait' || true
ws_check "h1 still answers after the flood" resolves c1a db 10.32.3.1
ws_check "h1's API still answers" on h1 status dns

pretty "peer death and rmpeer"
kill -KILL "$PID_h3"; wait "$PID_h3" 2>/dev/null || true
ws_check "h3 died: its names go on h1 (after the gone delay)" eventually 60 unresolved c1a db.weave.local
ws_check "rmpeer of a dead peer is accepted" on h1 rmpeer h3
