#!/usr/bin/env bash
# The weave-switch demo: three hosts on one LAN, each a network namespace
# running a real `weave-switch up`, two containers per host, all on one
# virtual Ethernet switch.
#
#   c1a c1b          c2a c2b          c3a c3b       containers 10.32.0.x/12
#     \ /              \ /              \ /
#  [weave] h1       [weave] h2       [weave] h3     one router per host
#       \               |               /
#        +------ LAN bridge (underlay) -+           198.18.0.0/24
#
# Usage: scripts/demo.sh [--keep]   (--keep: leave it running until Ctrl-C)
#        scripts/demo.sh --docker [--keep]: the same with Docker on two hosts
#        (scripts/demo-docker.sh)
# Needs root; installs what it needs; removes everything it made on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --docker ]; then
	shift
	exec scripts/demo-docker.sh "$@"
fi
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it creates namespaces, bridges and TAPs)" >&2; exit 1; }
scripts/deps.sh
if [ ! -x bin/weave-switch ] || [ -n "$(find cmd daemon router switch transport host api frame -newer bin/weave-switch -name '*.go' 2>/dev/null | head -1)" ]; then
	echo "demo: building bin/weave-switch" >&2
	make -s build 2>/dev/null || go build -o bin/weave-switch ./cmd/weave-switch
fi
. scripts/lib.sh
trap ws_cleanup EXIT
keep=false
[ "${1:-}" = --keep ] && keep=true

p=wsd-$WS_ID
lan=$p-lan
ns_add "$lan"
ip -n "$lan" link add lan type bridge
ip -n "$lan" link set lan up
for i in 1 2 3; do
	ns_add "$p-h$i"
	ip link add eth0 netns "$p-h$i" type veth peer name "h$i" netns "$lan"
	ip -n "$lan" link set "h$i" master lan up
	ip -n "$p-h$i" addr add "198.18.0.$i/24" dev eth0
	ip -n "$p-h$i" link set eth0 up
done

pretty "starting a router on each host (weave-switch up): host1 alone, the others join it with its token"
# host1 starts alone: it makes the mesh's secret (kept in its data dir) and
# the address allocation ring. 'weave-switch join-token' prints the one
# string the others need (the secret and host1's address): they start with
# 'up --join TOKEN', get the ring (and address space) from host1, and find
# each other through the gossiped topology.
router_up "$p-h1" h1 "$WS_TMP/h1.log" --nickname host1 --listen 198.18.0.1:6783
token=$(ws join-token --api "$WS_TMP/h1.sock")
printf '  join token of host1: %s\n' "$token" >&2
for i in 2 3; do
	router_up "$p-h$i" "h$i" "$WS_TMP/h$i.log" --nickname "host$i" --listen "198.18.0.$i:6783" --join "$token"
done

for i in 1 2 3; do wait_links "h$i" 2; done

pretty "attaching two containers per host (addresses from the allocator)"
declare -A ADDR
for i in 1 2 3; do
	for c in a b; do
		ns_add "$p-c$i$c"
		ws attach --api "$WS_TMP/h$i.sock" "$p-c$i$c" >/dev/null
		ADDR[$i$c]=$(ip -n "$p-c$i$c" -4 -o addr show dev ethws | awk '{sub("/.*", "", $4); print $4; exit}')
		printf '  container c%s%s on host%s: %s\n' "$i" "$c" "$i" "${ADDR[$i$c]}" >&2
	done
done

pretty "every container pings every other container"
ok=0 bad=0
for src in 1a 1b 2a 2b 3a 3b; do
	line="  c$src ->"
	for dst in 1a 1b 2a 2b 3a 3b; do
		if ip netns exec "$p-c$src" ping -c 1 -W 2 "${ADDR[$dst]}" >/dev/null 2>&1; then
			line+=" c$dst ok"; ok=$((ok + 1))
		else
			line+=" c$dst FAIL"; bad=$((bad + 1))
		fi
	done
	echo "$line" >&2
done

pretty "TCP across hosts: iperf3 from c1a to c3b for 3 s"
ip netns exec "$p-c3b" iperf3 -s -D -1 -B "${ADDR[3b]}" --pidfile "$WS_TMP/iperf3.pid" >/dev/null
wait_listen "$p-c3b" 5201
ip netns exec "$p-c1a" iperf3 -c "${ADDR[3b]}" -t 3 -f g 2>&1 | grep -E 'sender|receiver' >&2 || bad=$((bad + 1))

pretty "weave-switch status on host1"
ws status --api "$WS_TMP/h1.sock" >&2 || true
echo >&2
ws status connections --api "$WS_TMP/h1.sock" >&2
echo >&2
ws status peers --api "$WS_TMP/h1.sock" >&2

echo >&2
pretty "demo: $ok pings answered, $bad failed"
if $keep; then
	pretty "running; try: ip netns exec $p-c1a ping ${ADDR[3b]}   or   $WS_BIN status ipam --api $WS_TMP/h1.sock   (Ctrl-C to stop)"
	while sleep 3600; do :; done
fi
[ "$bad" -eq 0 ]
