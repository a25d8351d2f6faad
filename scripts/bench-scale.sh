#!/usr/bin/env bash
# Cost per peer: N routers in network namespaces on one underlay bridge,
# full mesh (every router joins through the first one and dials the rest
# from gossip) or, with -d 4, a partial mesh of degree 4 (router I dials
# I-1 and I-2 with --no-discovery, and the last two close the ring to the
# first two), one container attached to each, idle.
#
#   ns br: bridge ub (198.18.0.0/24)
#     h1 .1 --veth-- ub --veth-- h2 .2 ... hN .N
#     each hI runs `weave-switch up`, with container cI 10.32.0.I/12
#
# After IDLE seconds (default 20) it reports, per router: RSS
# (/proc/PID/status VmRSS, and RssAnon, its part that is the router's own:
# the rest is mostly the binary's pages, shared by all the routers),
# goroutines and heap in use (the router's
# /metrics: go_goroutines, go_memstats_heap_inuse_bytes), open fds
# (/proc/PID/fd) and idle CPU (utime+stime over CPU_SECS, default 10, from
# /proc/PID/stat), and over the same window the control plane's traffic
# (payload bytes it sent, /metrics weave_switch_control_payload_bytes_total,
# where the router has it) and the underlay's (bytes the router's veth
# sent: control connections and data-path heartbeats); then the time a
# new router (N+1) takes to be reachable from every other (an established
# link and a route on each; with -d, a route on each: it dials two). It
# writes a JSON file and prints a table of the means, minima and maxima.
#
# Usage: scripts/bench-scale.sh [-o FILE.json] [-p DIR] [-c] [-d 4] [N]
#   N: routers (default 10)
#   -d 4: partial mesh of degree 4 instead of the full mesh
#   -o: JSON output (default bench/results/scale-N.json)
#   -p DIR: also save h1's heap profile to DIR/heap-N.pprof, its Go
#       runtime metrics to DIR/metrics-N.txt, its smaps_rollup to
#       DIR/smaps-N.txt and a CPU profile of CPU_SECS to DIR/cpu-N.pprof
#       (after the measurement), and its control plane's counters again
#       and its heap profile after the CPU profile to
#       DIR/metrics-N-later.txt and DIR/heap-N-later.pprof, then an
#       execution trace of CPU_SECS to DIR/trace-N.out; the same but the CPU profile of the
#       router with the most anonymous RSS, hK, to DIR/heap-N-hK.pprof...
#   -c: leak and growth check instead of the report: the same mesh, then
#       bounds on anonymous RSS and goroutines per peer (RSS_BASE_KIB,
#       RSS_PEER_KIB, GOR_BASE, GOR_PEER; see below), then half the
#       routers restarted and the others' goroutines and fds compared with
#       before; exits 1 when over.
# Needs root, jq, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap ws_cleanup EXIT

out= profdir= check= degree=
while getopts "o:p:cd:" opt; do
	case $opt in
	o) out=$OPTARG ;;
	p) profdir=$OPTARG ;;
	c) check=1 ;;
	d) degree=$OPTARG ;;
	*) echo "usage: $0 [-o FILE.json] [-p PROFILE_DIR] [-c] [-d 4] [N]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
n=${1:-10}
idle=${IDLE:-20}
cpu_secs=${CPU_SECS:-10}
out=${out:-bench/results/scale-$n${degree:+-d$degree}.json}
[ "$(id -u)" -eq 0 ] || { echo "bench-scale: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || { echo "bench-scale: no binary at $WS_BIN (make build)" >&2; exit 1; }
[ "$n" -ge 2 ] && [ "$n" -le 200 ] || { echo "bench-scale: N must be 2..200" >&2; exit 2; }
[ -z "$degree" ] || { [ "$degree" = 4 ] && [ "$n" -ge 6 ]; } || { echo "bench-scale: -d takes 4, with N of 6 or more" >&2; exit 2; }
links=$((n - 1)) meshname="full mesh" # links per router
[ -z "$degree" ] || links=$degree meshname="partial mesh of degree $degree"
mkdir -p "$(dirname "$out")"

# A full mesh of N routers on one underlay needs N × N neighbour
# entries: beyond about 30 routers the kernel's default table is full,
# new neighbours fail with ENOBUFS and dials time out.
neigh_room $((n * (n + 1)))

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
dials() { # dials I: the routers hI dials in the partial mesh (those before it, the ring closed at the end)
	local i=$1 j
	for j in $((i - 1)) $((i - 2)); do [ "$j" -ge 1 ] && echo "$j"; done
	[ "$i" -eq "$n" ] && echo 1 2
	[ "$i" -eq $((n - 1)) ] && echo 1
	return 0
}
args_of() { # args_of I: hI's arguments to `up`
	local i=$1 j addrs=()
	args=(--name "$(name_of "$i")" --nickname "h$i" --listen 0.0.0.0:6783)
	if [ -z "$degree" ]; then
		[ "$i" -gt 1 ] && args+=(--join "$token")
		return 0
	fi
	for j in $(dials "$i"); do addrs+=(--addr "198.18.0.$j"); done
	[ "$i" -gt 1 ] && args+=(--no-discovery --join "$(ws join-token --api "$WS_TMP/h1.sock" "${addrs[@]}")")
	[ "$i" -eq 1 ] && args+=(--no-discovery)
	return 0
}
start() { # start I: router on hI (joining through h1 unless I is 1), container attached
	local i=$1 args
	args_of "$i"
	router_up "$p-h$i" "h$i" "$WS_TMP/h$i.log" "${args[@]}"
	ws attach --api "$WS_TMP/h$i.sock" "$p-c$i" "10.32.0.$i/12" >/dev/null
}

pretty "bench-scale: $n routers, $meshname"
for i in $(seq "$n"); do host "$i"; done
token=
start 1
token=$(ws join-token --api "$WS_TMP/h1.sock" --addr 198.18.0.1)
for i in $(seq 2 "$n"); do start "$i"; done
t0=$(date +%s.%N)
for i in $(seq "$n"); do wait_links "h$i" "$links" 120; done
t1=$(date +%s.%N)
pretty "full mesh after $(echo "$t1 - $t0" | bc) s; idle ${idle} s"
sleep "$idle"

pid_of() { eval "echo \${PID_h$1}"; }
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
txb() { ip -n "$p-h$1" -s -j link show "u$1" | jq '.[0].stats64.tx.bytes'; }
ctlb() { # ctlb I: control payload bytes hI sent (0 if it does not count them)
	curl -s --unix-socket "$WS_TMP/h$1.sock" http://x/metrics |
		awk '/^weave_switch_control_payload_bytes_total\{direction="sent"/ {s += $2} END {printf "%d", s}'
}
measure() { # measure: rows[] gets one JSON object per router, CPU and traffic over cpu_secs
	local i pid cpu rss anon fds m gor heap ub cb
	declare -A cpu0 tx0 ctl0
	for i in $(seq "$n"); do
		cpu0[$i]=$(ticks "$(pid_of "$i")") tx0[$i]=$(txb "$i") ctl0[$i]=$(ctlb "$i")
	done
	sleep "$cpu_secs"
	rows=()
	for i in $(seq "$n"); do
		pid=$(pid_of "$i")
		cpu=$(echo "scale=3; ($(ticks "$pid") - ${cpu0[$i]}) * 100 / $hz / $cpu_secs" | bc)
		ub=$(( ($(txb "$i") - ${tx0[$i]}) / cpu_secs ))
		cb=$(( ($(ctlb "$i") - ${ctl0[$i]}) / cpu_secs ))
		rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
		anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status")
		fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
		m=$(curl -s --unix-socket "$WS_TMP/h$i.sock" http://x/metrics)
		gor=$(awk '$1 == "go_goroutines" {print $2}' <<<"$m")
		heap=$(awk '$1 == "go_memstats_heap_inuse_bytes" {printf "%d", $2}' <<<"$m")
		rows+=("$(jq -nc --argjson i "$i" --argjson rss "$rss" --argjson anon "$anon" --argjson fds "$fds" \
			--argjson gor "$gor" --argjson heap "$heap" --argjson cpu "$cpu" --argjson ub "$ub" --argjson cb "$cb" \
			'{router: "h\($i)", rss_kib: $rss, rss_anon_kib: $anon, heap_inuse_bytes: $heap, goroutines: $gor, fds: $fds, idle_cpu_pct: $cpu,
			  underlay_tx_bytes_per_s: $ub, control_tx_bytes_per_s: $cb}')")
	done
}
measure
if [ -n "$profdir" ]; then
	mkdir -p "$profdir"
	curl -s --unix-socket "$WS_TMP/h1.sock" "http://x/debug/pprof/heap?gc=1" >"$profdir/heap-$n.pprof"
	curl -s --unix-socket "$WS_TMP/h1.sock" http://x/metrics | grep -E '^(go_|weave_switch_control_)' >"$profdir/metrics-$n.txt"
	cp "/proc/${PID_h1}/smaps_rollup" "$profdir/smaps-$n.txt"
	curl -s --unix-socket "$WS_TMP/h1.sock" "http://x/debug/pprof/profile?seconds=$cpu_secs" >"$profdir/cpu-$n.pprof"
	# The control plane's counters again, CPU_SECS later: what it sent, by
	# message type, while idle.
	curl -s --unix-socket "$WS_TMP/h1.sock" http://x/metrics | grep -E '^weave_switch_control_' >"$profdir/metrics-$n-later.txt"
	# And its heap profile again: against heap-N.pprof (pprof -base), what
	# it allocated while idle.
	curl -s --unix-socket "$WS_TMP/h1.sock" "http://x/debug/pprof/heap" >"$profdir/heap-$n-later.pprof"
	# And an execution trace of CPU_SECS: every wake-up of an idle router,
	# with the goroutine and the timer or packet behind it.
	curl -s --unix-socket "$WS_TMP/h1.sock" "http://x/debug/pprof/trace?seconds=$cpu_secs" >"$profdir/trace-$n.out"
	# And the router with the most anonymous RSS, as hK.
	big=$(printf '%s\n' "${rows[@]}" | jq -rs 'max_by(.rss_anon_kib) | .router')
	curl -s --unix-socket "$WS_TMP/$big.sock" "http://x/debug/pprof/heap?gc=1" >"$profdir/heap-$n-$big.pprof"
	curl -s --unix-socket "$WS_TMP/$big.sock" http://x/metrics | grep '^go_' >"$profdir/metrics-$n-$big.txt"
	cp "/proc/$(pid_of "${big#h}")/smaps_rollup" "$profdir/smaps-$n-$big.txt"
fi

if [ -n "$check" ]; then
	# A leak and growth detector with generous margins, not a timed
	# assert: the bounds are several times what a healthy router uses.
	# RSS is the anonymous part (the binary's pages are shared and do not
	# grow with peers). Then half the routers stop and start again: the
	# others must come back to the goroutines and fds they had, give or
	# take a few (connections being replaced), and stay within the bounds.
	rss_base_kib=${RSS_BASE_KIB:-32768} rss_peer_kib=${RSS_PEER_KIB:-512}
	gor_base=${GOR_BASE:-80} gor_peer=${GOR_PEER:-12}
	bad=0
	bounds() { # bounds WHEN: check rows[] against the bounds
		local r name rss gor
		for r in "${rows[@]}"; do
			read -r name rss gor < <(jq -r '"\(.router) \(.rss_anon_kib) \(.goroutines)"' <<<"$r")
			if [ "$rss" -gt $((rss_base_kib + rss_peer_kib * links)) ]; then
				echo "$1: $name: anonymous RSS $rss KiB over $rss_base_kib + $rss_peer_kib per peer" >&2; bad=1
			fi
			if [ "$gor" -gt $((gor_base + gor_peer * links)) ]; then
				echo "$1: $name: $gor goroutines over $gor_base + $gor_peer per peer" >&2; bad=1
			fi
		done
	}
	bounds "idle mesh"
	before=("${rows[@]}")
	half=$((n / 2))
	pretty "stopping and restarting h2..h$((half + 1))"
	for i in $(seq 2 $((half + 1))); do router_down "h$i"; done
	for i in $(seq 2 $((half + 1))); do
		args_of "$i"
		router_up "$p-h$i" "h$i" "$WS_TMP/h$i.log" "${args[@]}"
	done
	for i in $(seq "$n"); do wait_links "h$i" "$links" 120; done
	sleep "$idle"
	measure
	bounds "after the restarts"
	for i in 1 $(seq $((half + 2)) "$n"); do
		read -r g0 f0 < <(jq -r '"\(.goroutines) \(.fds)"' <<<"${before[$((i - 1))]}")
		read -r g1 f1 < <(jq -r '"\(.goroutines) \(.fds)"' <<<"${rows[$((i - 1))]}")
		if [ "$g1" -gt $((g0 + 4)) ] || [ "$f1" -gt $((f0 + 2)) ]; then
			echo "h$i: $g0 goroutines and $f0 fds before $half peers restarted, $g1 and $f1 after" >&2; bad=1
		fi
	done
	[ $bad -eq 0 ] || fail "bench-scale check: $n routers over the bounds"
	pretty "bench-scale check: $n routers within the bounds, before and after $half restarts"
	exit 0
fi

# A new router: from its start until every other router has an established
# link to it and a route.
k=$((n + 1))
host "$k"
j0=$(date +%s.%N)
if [ -n "$degree" ]; then
	# It dials h1 and hN: a route is what the others need.
	args=(--name "$(name_of "$k")" --nickname "h$k" --listen 0.0.0.0:6783 --no-discovery
		--join "$(ws join-token --api "$WS_TMP/h1.sock" --addr 198.18.0.1 --addr "198.18.0.$n")")
	router_up "$p-h$k" "h$k" "$WS_TMP/h$k.log" "${args[@]}"
	ws attach --api "$WS_TMP/h$k.sock" "$p-c$k" "10.32.0.$k/12" >/dev/null
else
	start "$k"
fi
newname=$(name_of "$k")
linked=true
[ -n "$degree" ] && linked=false
for i in $(seq "$n"); do
	for _ in $(seq 600); do
		"$WS_BIN" status --api "$WS_TMP/h$i.sock" --json 2>/dev/null | jq -e --arg p "$newname" --argjson linked "$linked" \
			'(($linked | not) or ([.connections[]? | select(.state=="established" and .peer==$p)] | length > 0)) and
			 ([.peers[]? | select(.name==$p and .reachable)] | length > 0)' >/dev/null && break
		sleep 0.1
	done
done
j1=$(date +%s.%N)
join_s=$(echo "scale=2; ($j1 - $j0) / 1" | bc)

jq -n --argjson n "$n" --argjson idle "$idle" --argjson cpu_secs "$cpu_secs" --argjson join "$join_s" \
	--arg rev "$("$WS_BIN" --version 2>/dev/null | awk '{print $NF; exit}')" \
	--slurpfile rows <(printf '%s\n' "${rows[@]}") \
	--argjson links "$links" --arg mesh "$meshname" \
	'{routers: $n, mesh: $mesh, links_per_router: $links, idle_s: $idle, cpu_window_s: $cpu_secs, revision: $rev,
	  join_reachable_s: $join, per_router: $rows}' >"$out"

jq -r '
  def stat(f): [.per_router[] | f] | {mean: (add / length), min: min, max: max};
  def fmt(s; d): "\(s.mean / d * 10 | round / 10) (\(s.min / d * 10 | round / 10)-\(s.max / d * 10 | round / 10))";
  "routers \(.routers), \(.mesh), links per router \(.links_per_router), \(.revision)",
  "  RSS MiB           " + fmt(stat(.rss_kib); 1024),
  "  of it anonymous   " + fmt(stat(.rss_anon_kib); 1024),
  "  heap in use MiB   " + fmt(stat(.heap_inuse_bytes); 1048576),
  "  goroutines        " + fmt(stat(.goroutines); 1),
  "  fds               " + fmt(stat(.fds); 1),
  "  idle CPU % core   " + fmt(stat(.idle_cpu_pct); 1) + ", all routers \([.per_router[].idle_cpu_pct] | add * 10 | round / 10)",
  "  underlay B/s sent " + fmt(stat(.underlay_tx_bytes_per_s); 1),
  "  control B/s sent  " + fmt(stat(.control_tx_bytes_per_s); 1),
  "  new router reachable from all in \(.join_reachable_s) s"' "$out"
pretty "wrote $out"
