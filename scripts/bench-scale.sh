#!/usr/bin/env bash
# Cost per peer: N routers in network namespaces on one underlay bridge,
# full mesh (every router is given the first one with --peer and dials the
# rest from gossip), one container attached to each, idle.
#
#   ns br: bridge ub (198.18.0.0/24)
#     h1 .1 --veth-- ub --veth-- h2 .2 ... hN .N
#     each hI runs `weave-switch up`, with container cI 10.32.0.I/12
#
# After IDLE seconds (default 20) it reports, per router: RSS
# (/proc/PID/status VmRSS), goroutines and heap in use (the router's
# /metrics: go_goroutines, go_memstats_heap_inuse_bytes), open fds
# (/proc/PID/fd) and idle CPU (utime+stime over CPU_SECS, default 10, from
# /proc/PID/stat); then the time a new router (N+1) takes to be reachable
# from every other (an established link and a route on each). It writes a
# JSON file and prints a table of the means, minima and maxima.
#
# Usage: scripts/bench-scale.sh [-o FILE.json] [-p DIR] [-c] [N]
#   N: routers (default 10)
#   -o: JSON output (default bench/results/scale-N.json)
#   -p DIR: also save h1's heap profile to DIR/heap-N.pprof
#   -c: leak and growth check instead of the report: the same mesh, then
#       the bounds below on RSS and goroutines per peer; exits 1 when over.
# Needs root, jq, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap ws_cleanup EXIT

out= profdir= check=
while getopts "o:p:c" opt; do
	case $opt in
	o) out=$OPTARG ;;
	p) profdir=$OPTARG ;;
	c) check=1 ;;
	*) echo "usage: $0 [-o FILE.json] [-p PROFILE_DIR] [-c] [N]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
n=${1:-10}
idle=${IDLE:-20}
cpu_secs=${CPU_SECS:-10}
out=${out:-bench/results/scale-$n.json}
[ "$(id -u)" -eq 0 ] || { echo "bench-scale: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || { echo "bench-scale: no binary at $WS_BIN (make build)" >&2; exit 1; }
[ "$n" -ge 2 ] && [ "$n" -le 200 ] || { echo "bench-scale: N must be 2..200" >&2; exit 2; }
mkdir -p "$(dirname "$out")"

p=wss-$WS_ID
ns_add "$p-br"
ip -n "$p-br" link add ub type bridge
ip -n "$p-br" link set ub up

host() { # host I: namespace hI on the underlay bridge at 198.18.0.I, container cI
	local i=$1
	ns_add "$p-h$i"
	ns_add "$p-c$i"
	ip link add "u$i" netns "$p-h$i" type veth peer name "b$i" netns "$p-br"
	ip -n "$p-br" link set "b$i" master ub up
	ip -n "$p-h$i" addr add "198.18.0.$i/24" dev "u$i"
	ip -n "$p-h$i" link set "u$i" up
}
name_of() { printf '02:00:00:00:%02x:%02x' $(($1 / 256)) $(($1 % 256)); }
start() { # start I: router on hI (joining through h1 unless I is 1), container attached
	local i=$1 args
	args=(--name "$(name_of "$i")" --nickname "h$i" --listen 0.0.0.0:6783)
	[ "$i" -gt 1 ] && args+=(--join "$token")
	router_up "$p-h$i" "h$i" "$WS_TMP/h$i.log" "${args[@]}"
	ws attach --api "$WS_TMP/h$i.sock" "$p-c$i" "10.32.0.$i/12" >/dev/null
}

pretty "bench-scale: $n routers, full mesh"
for i in $(seq "$n"); do host "$i"; done
token=
start 1
token=$(ws join-token --api "$WS_TMP/h1.sock" --addr 198.18.0.1)
for i in $(seq 2 "$n"); do start "$i"; done
t0=$(date +%s.%N)
for i in $(seq "$n"); do wait_links "h$i" $((n - 1)) 120; done
t1=$(date +%s.%N)
pretty "full mesh after $(echo "$t1 - $t0" | bc) s; idle ${idle} s"
sleep "$idle"

pid_of() { eval "echo \${PID_h$1}"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
declare -A cpu0
for i in $(seq "$n"); do cpu0[$i]=$(ticks "$(pid_of "$i")"); done
sleep "$cpu_secs"
rows=()
for i in $(seq "$n"); do
	pid=$(pid_of "$i")
	cpu=$(echo "scale=3; ($(ticks "$pid") - ${cpu0[$i]}) * 100 / $hz / $cpu_secs" | bc)
	rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
	fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
	m=$(curl -s --unix-socket "$WS_TMP/h$i.sock" http://x/metrics)
	gor=$(awk '$1 == "go_goroutines" {print $2}' <<<"$m")
	heap=$(awk '$1 == "go_memstats_heap_inuse_bytes" {printf "%d", $2}' <<<"$m")
	rows+=("$(jq -nc --argjson i "$i" --argjson rss "$rss" --argjson fds "$fds" \
		--argjson gor "$gor" --argjson heap "$heap" --argjson cpu "$cpu" \
		'{router: "h\($i)", rss_kib: $rss, heap_inuse_bytes: $heap, goroutines: $gor, fds: $fds, idle_cpu_pct: $cpu}')")
done
if [ -n "$profdir" ]; then
	mkdir -p "$profdir"
	curl -s --unix-socket "$WS_TMP/h1.sock" http://x/debug/pprof/heap >"$profdir/heap-$n.pprof"
fi

if [ -n "$check" ]; then
	# A leak and growth detector with generous margins, not a timed
	# assert: the bounds are several times what a healthy router uses.
	rss_base_kib=${RSS_BASE_KIB:-40960} rss_peer_kib=${RSS_PEER_KIB:-512}
	gor_base=${GOR_BASE:-80} gor_peer=${GOR_PEER:-12}
	bad=0
	for r in "${rows[@]}"; do
		read -r name rss gor < <(jq -r '"\(.router) \(.rss_kib) \(.goroutines)"' <<<"$r")
		if [ "$rss" -gt $((rss_base_kib + rss_peer_kib * (n - 1))) ]; then
			echo "$name: RSS $rss KiB over $rss_base_kib + $rss_peer_kib per peer" >&2; bad=1
		fi
		if [ "$gor" -gt $((gor_base + gor_peer * (n - 1))) ]; then
			echo "$name: $gor goroutines over $gor_base + $gor_peer per peer" >&2; bad=1
		fi
	done
	[ $bad -eq 0 ] || fail "bench-scale check: $n routers over the bounds"
	pretty "bench-scale check: $n routers within the bounds"
	exit 0
fi

# A new router: from its start until every other router has an established
# link to it and a route.
k=$((n + 1))
host "$k"
j0=$(date +%s.%N)
start "$k"
newname=$(name_of "$k")
for i in $(seq "$n"); do
	for _ in $(seq 600); do
		"$WS_BIN" status --api "$WS_TMP/h$i.sock" --json 2>/dev/null | jq -e --arg p "$newname" \
			'([.connections[]? | select(.state=="established" and .peer==$p)] | length > 0) and
			 ([.peers[]? | select(.name==$p and .reachable)] | length > 0)' >/dev/null && break
		sleep 0.1
	done
done
j1=$(date +%s.%N)
join_s=$(echo "scale=2; ($j1 - $j0) / 1" | bc)

jq -n --argjson n "$n" --argjson idle "$idle" --argjson cpu_secs "$cpu_secs" --argjson join "$join_s" \
	--arg rev "$(git describe --always --dirty 2>/dev/null || echo unknown)" \
	--slurpfile rows <(printf '%s\n' "${rows[@]}") \
	'{routers: $n, links_per_router: ($n - 1), idle_s: $idle, cpu_window_s: $cpu_secs, revision: $rev,
	  join_reachable_s: $join, per_router: $rows}' >"$out"

jq -r '
  def stat(f): [.per_router[] | f] | {mean: (add / length), min: min, max: max};
  def fmt(s; d): "\(s.mean / d * 10 | round / 10) (\(s.min / d * 10 | round / 10)-\(s.max / d * 10 | round / 10))";
  "routers \(.routers), links per router \(.links_per_router), \(.revision)",
  "  RSS MiB           " + fmt(stat(.rss_kib); 1024),
  "  heap in use MiB   " + fmt(stat(.heap_inuse_bytes); 1048576),
  "  goroutines        " + fmt(stat(.goroutines); 1),
  "  fds               " + fmt(stat(.fds); 1),
  "  idle CPU % core   " + fmt(stat(.idle_cpu_pct); 1) + ", all routers \([.per_router[].idle_cpu_pct] | add * 10 | round / 10)",
  "  new router reachable from all in \(.join_reachable_s) s"' "$out"
pretty "wrote $out"
