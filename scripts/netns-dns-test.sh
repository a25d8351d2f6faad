#!/usr/bin/env bash
# Service discovery end to end: four hosts in a line (a partial mesh),
# containers attached with --name, names resolved from inside the
# containers with getent hosts and nslookup (through the resolv.conf
# attach writes), a forwarded name, dns-add/dns-remove, detach, a
# restart, a flood of queries, peer death and rmpeer.
#
#      c1a c1b           c2a              c3a             c4a
#         \ /             |                |               |
#      [h1 router] --- [h2 router] --- [h3 router] --- [h4 router]
#           |
#          up (upstream resolver, dnsmasq, h1's resolv.conf)
#
# h1 and h4 have no direct link: names cross three gossip hops. Every
# router runs its DNS as `up` does by default, on each IPv4 address of
# its bridge (port 53): 10.32.0.25N/12, given by `expose`. Needs root,
# dnsmasq, dnsperf and busybox (scripts/deps.sh installs them); names are
# unique per run and everything is removed on exit, /etc/netns entries
# included. Prints the figure: attach --name on h1 to the name resolving
# on h3 (two hops) and h4 (three hops).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-dns-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"
for c in dnsmasq dnsperf busybox; do
	command -v $c >/dev/null || fail "no $c (run scripts/deps.sh)"
done
export WS_DNS=1

p=wsd-$WS_ID
finish() {
	rm -rf /etc/netns/"$p"-*
	ws_finish netns-dns-test
}
trap finish EXIT

for h in h1 h2 h3 h4 up; do ns_add "$p-$h"; done
for c in c1a c1b c2a c3a c4a; do ns_add "$p-$c"; done
link_ns "$p-h1" "$p-h2" u12 u21 198.18.12.1/24 198.18.12.2/24
link_ns "$p-h2" "$p-h3" u23 u32 198.18.23.2/24 198.18.23.3/24
link_ns "$p-h3" "$p-h4" u34 u43 198.18.34.3/24 198.18.34.4/24
link_ns "$p-h1" "$p-up" u1u uu1 198.18.99.1/24 198.18.99.53/24

# The upstream resolver: dnsmasq answering names of its own.
in_ns "$p-up" dnsmasq --no-daemon --no-resolv --no-hosts --listen-address=198.18.99.53 --bind-interfaces \
	--address=/outside.example.test/192.0.2.77 --address=/flood.example.test/192.0.2.78 \
	--pid-file="$WS_TMP/dnsmasq.pid" >"$WS_TMP/dnsmasq.out" 2>&1 &
WS_PIDS+=("$!")
# h1's router reads this as its /etc/resolv.conf (ip netns exec mounts it).
mkdir -p "/etc/netns/$p-h1"
echo "nameserver 198.18.99.53" >"/etc/netns/$p-h1/resolv.conf"

n1=02:00:00:00:0d:01 n2=02:00:00:00:0d:02 n3=02:00:00:00:0d:03 n4=02:00:00:00:0d:04
export WEAVE_SWITCH_PASSWORD=dns-test-secret
# Every router seeds the allocation ring with the same four names: the
# explicit addresses are claimed, and rmpeer has a ring to work on.
export WEAVE_SWITCH_IPALLOC_SEED=$n1,$n2,$n3,$n4
start_h1() { router_up "$p-h1" h1 "$WS_TMP/h1.log" --name $n1 --nickname h1 --peer 198.18.12.2; }
start_h2() { router_up "$p-h2" h2 "$WS_TMP/h2.log" --name $n2 --nickname h2 --peer 198.18.12.1 --peer 198.18.23.3; }
start_h3() { router_up "$p-h3" h3 "$WS_TMP/h3.log" --name $n3 --nickname h3 --peer 198.18.23.2 --peer 198.18.34.4; }
start_h4() { router_up "$p-h4" h4 "$WS_TMP/h4.log" --name $n4 --nickname h4 --peer 198.18.34.3; }
on() { local h=$1; shift; "$WS_BIN" "$@" --api "$WS_TMP/$h.sock"; }
# resolves NS NAME [ADDR]: getent in container NS finds NAME (with ADDR).
resolves() { local out; out=$(in_ns "$p-$1" getent ahostsv4 "$2") && { [ -z "${3:-}" ] || grep -qw "$3" <<<"$out"; }; }
# eventually SECS CMD...: CMD succeeds within SECS seconds.
eventually() { local s=$1; shift; for _ in $(seq $((s * 20))); do "$@" && return 0; sleep 0.05; done; "$@"; }
unresolved() { ! resolves "$@"; }
export -f on in_ns resolves eventually unresolved
export p WS_BIN WS_TMP


pretty "starting four routers in a line"
start_h1
start_h2
start_h3
start_h4
wait_links h1 1
wait_links h2 2
wait_links h3 2
wait_links h4 1
ws_check "with no address on its bridge, the DNS serves nothing and says so" \
	bash -c "on h1 status dns --json | jq -e '.serving == []' && on h1 status dns | grep -q 'Serving:.*nothing'"
for i in 1 2 3 4; do on h$i expose 10.32.0.25$i/12 >/dev/null; done
ws_check "once exposed, the DNS serves the bridge's address" \
	eventually 10 bash -c "on h1 status dns --json | jq -e '.serving == [\"10.32.0.251:53\"]'"

pretty "attaching named containers"
on h4 attach "$p-c4a" 10.32.4.1/12 --name far >/dev/null
on h3 attach "$p-c3a" 10.32.3.1/12 >/dev/null
t0=$(date +%s%N)
on h1 attach "$p-c1a" 10.32.1.1/12 --name web >/dev/null
eventually 30 resolves c3a web.weave.local 10.32.1.1 || true
t3=$(date +%s%N)
eventually 30 resolves c4a web.weave.local 10.32.1.1 || true
t4=$(date +%s%N)
ms3=$(((t3 - t0) / 1000000)) ms4=$(((t4 - t0) / 1000000))
ws_check "web (attached on h1) resolves on h3 and h4" resolves c4a web.weave.local 10.32.1.1
on h3 detach "$p-c3a" >/dev/null
on h3 attach "$p-c3a" 10.32.3.1/12 --name db >/dev/null
on h2 attach "$p-c2a" 10.32.2.1/12 --name web >/dev/null
on h1 attach "$p-c1b" 10.32.1.2/12 --name solo --no-resolv-conf >/dev/null

ws_check "attach wrote the container's resolv.conf (the bridge address in its subnet)" grep -q "nameserver 10.32.0.251" "/etc/netns/$p-c1a/resolv.conf"
ws_check "--no-resolv-conf wrote none" test ! -e "/etc/netns/$p-c1b/resolv.conf"
ws_check "c4a on h4 finds web on h1 (search domain)" eventually 20 resolves c4a web 10.32.1.1
ws_check "c1a on h1 finds db on h3" eventually 20 resolves c1a db.weave.local 10.32.3.1
ws_check "nslookup in c4a finds db" eventually 20 bash -c "in_ns $p-c4a busybox nslookup db.weave.local | grep -qw 10.32.3.1"
ws_check "web answers both containers" eventually 20 bash -c "in_ns $p-c3a getent ahostsv4 web.weave.local | grep -qw 10.32.1.1 && in_ns $p-c3a getent ahostsv4 web.weave.local | grep -qw 10.32.2.1"
ws_check "a reverse lookup names the container" bash -c "in_ns $p-c1a getent hosts 10.32.3.1 | grep -qw db.weave.local"
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
ws_check "detach removes the name on h1, h3 and h4" eventually 20 bash -c "for c in c1a c3a c4a; do ! in_ns $p-\$c getent ahostsv4 web.weave.local | grep -qw 10.32.2.1 || exit 1; done"
on h1 detach "$p-c1a" >/dev/null
ws_check "detach removes the resolv.conf it wrote" test ! -e "/etc/netns/$p-c1a/resolv.conf"
on h1 attach "$p-c1a" 10.32.1.1/12 --name web >/dev/null

pretty "a router killed and started again keeps its names"
kill -KILL "$PID_h1"; wait "$PID_h1" 2>/dev/null || true
start_h1
wait_links h1 1
on h1 expose 10.32.0.251/12 >/dev/null
ws_check "after h1's restart, web still resolves on h4" eventually 20 resolves c4a web 10.32.1.1
ws_check "and on h1 itself" eventually 20 resolves c1a web 10.32.1.1

pretty "a flood of queries does not stop the router"
{
	for i in $(seq 50); do echo "web.weave.local A"; echo "db.weave.local A"; echo "nobody$i.weave.local A"; echo "flood.example.test A"; done
} >"$WS_TMP/queries"
in_ns "$p-c1a" dnsperf -s 10.32.0.251 -d "$WS_TMP/queries" -n 100 -l 15 -c 4 -t 2 >"$WS_TMP/dnsperf.out" 2>&1 || true
qps=$(awk '/Queries per second/ {print $4}' "$WS_TMP/dnsperf.out")
sent=$(awk '/Queries sent/ {print $3}' "$WS_TMP/dnsperf.out")
lost=$(awk '/Queries lost/ {print $3}' "$WS_TMP/dnsperf.out")
ws_check "the flood ran (${sent:-0} queries)" test "${sent:-0}" -ge 10000
ws_check "h1 still answers after the flood" resolves c1a db 10.32.3.1
ws_check "and still forwards" resolves c1a outside.example.test 192.0.2.77
ws_check "h1's API still answers" on h1 status dns

pretty "rmpeer, then peer death"
# h4 dies and is removed by rmpeer on h1: its names go at once on every
# host. Then h3 dies: its names go when the mesh finds it gone (30 s).
kill -KILL "$PID_h4"; wait "$PID_h4" 2>/dev/null || true
eval "PID_h4="
ws_check "h4's name far still resolves on h1 before rmpeer" resolves c1a far 10.32.4.1
ws_check "rmpeer h4 on h1 is accepted once h4 is unreachable" eventually 20 on h1 rmpeer h4
ws_check "rmpeer removes h4's names on h1, h2 and h3" eventually 10 bash -c "for h in h1 h2 h3; do on \$h status dns --json | jq -e '[.entries[] | select(.owner==\"$n4\")] == []' || exit 1; done && ! in_ns $p-c3a getent ahostsv4 far.weave.local"
kill -KILL "$PID_h3"; wait "$PID_h3" 2>/dev/null || true
eval "PID_h3="
ws_check "h3 died: db goes on h1 and h2 (after the gone delay)" \
	eventually 60 bash -c "for h in h1 h2; do on \$h status dns --json | jq -e '[.entries[] | select(.owner==\"$n3\")] == []' || exit 1; done && ! in_ns $p-c1a getent ahostsv4 db.weave.local"
ws_check "web on h1 still resolves" resolves c1a web 10.32.1.1

pretty "attach --name on h1 to resolving on h3 (two gossip hops): $ms3 ms; on h4 (three hops): $ms4 ms"
pretty "dnsperf from a container against h1 (local, NXDOMAIN and forwarded names mixed): ${qps:-?} queries/s, ${lost:-?} lost of ${sent:-?}"
