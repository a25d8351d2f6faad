#!/usr/bin/env bash
# One router with many peers: a real `weave-switch up` (default flags,
# with a password, one container attached) in namespace h1, and N-1
# simulated peers in one process (cmd/ws-peersim) in namespace sim, each
# the project's own mesh, router and sleeve transport on its own address,
# dialing h1; both namespaces on one underlay bridge.
#
#   h1 198.18.0.1/16 --veth-- ub --veth-- sim 198.18.4.1 ... (N-1 addresses)
#
# Once every simulated peer has an established link to h1 (and h1 to
# each), and after IDLE seconds (default 60), it reports h1's RSS (VmRSS,
# RssAnon), heap in use and goroutines (/metrics), open fds, idle CPU
# over CPU_SECS (default 30; utime+stime from /proc/PID/stat), the
# underlay bytes h1 sent a second, the simulator's CPU over the same
# window, and the time from the first simulated peer's start until all
# were established; then h1's heap profile (the top of `go tool pprof
# -top`). It writes a JSON file and the profile.
#
# RATE (default 25) is how many simulated peers start a second.
# MEMORY_MAX=BYTES runs h1 in a memory cgroup of that size (as a
# container or a systemd unit's MemoryMax would; the router sets its Go
# soft limit to 90 % of it) and adds the cgroup's peak, OOM kills and
# limit hits to the report.
#
# Usage: scripts/bench-peers.sh [-o FILE.json] [-p DIR] [N]
#   N: h1's peers (default 1000)
#   -o: JSON output (default bench/results/peers-N.json)
#   -p: directory for h1's heap profile (default: next to the JSON)
# Needs root, jq, curl, go (to build the simulator and read the profile).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap ws_cleanup EXIT

out= profdir=
while getopts "o:p:" opt; do
	case $opt in
	o) out=$OPTARG ;;
	p) profdir=$OPTARG ;;
	*) echo "usage: $0 [-o FILE.json] [-p DIR] [N]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
n=${1:-1000}
idle=${IDLE:-60}
cpu_secs=${CPU_SECS:-30}
out=${out:-bench/results/peers-$n.json}
profdir=${profdir:-$(dirname "$out")}
[ "$(id -u)" -eq 0 ] || { echo "bench-peers: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || { echo "bench-peers: no binary at $WS_BIN (make build)" >&2; exit 1; }
[ "$n" -ge 2 ] && [ "$n" -le 4000 ] || { echo "bench-peers: N must be 2..4000" >&2; exit 2; }
mkdir -p "$(dirname "$out")" "$profdir"
SIM=bin/ws-peersim
"${GO:-go}" build -o "$SIM" ./cmd/ws-peersim || fail "building cmd/ws-peersim"

# h1 needs a neighbour entry per simulated peer.
neigh_room "$n"

p=wsp-$WS_ID
ns_add "$p-br"
ip -n "$p-br" link add ub type bridge
ip -n "$p-br" link set ub up
port() { # port NS IF ADDR: IF in NS, with ADDR/16, on the bridge
	ip link add "$2" netns "$1" type veth peer name "b$2" netns "$p-br"
	ip -n "$p-br" link set "b$2" master ub up
	ip -n "$1" addr add "$3/16" dev "$2"
	ip -n "$1" link set "$2" up
}
ns_add "$p-h1"
ns_add "$p-c1"
ns_add "$p-sim"
port "$p-h1" u1 198.18.0.1
port "$p-sim" us 198.18.4.1
# The simulated peers' addresses: 198.18.4.1 on, one each.
for i in $(seq 1 $((n - 2))); do
	a=$((4 * 256 + 1 + i))
	echo "addr add 198.18.$((a / 256)).$((a % 256))/16 dev us"
done | ip -n "$p-sim" -batch -

printf 'bench-peers-%s\n' "$WS_ID" >"$WS_TMP/pw"
pretty "bench-peers: h1 and $((n - 1)) simulated peers"
if [ -n "${MEMORY_MAX:-}" ]; then
	memcg "$MEMORY_MAX" || fail "no memory cgroup for MEMORY_MAX"
fi
router_up "$p-h1" h1 "$WS_TMP/h1.log" --name 02:00:00:00:00:01 --nickname h1 --listen 0.0.0.0:6783 --password-file "$WS_TMP/pw"
ws attach --api "$WS_TMP/h1.sock" "$p-c1" 10.32.0.1/12 >/dev/null
t0=$(date +%s.%N)
ip netns exec "$p-sim" "$SIM" -router 198.18.0.1:6783 -first 198.18.4.1 -n $((n - 1)) -rate "${RATE:-25}" -password-file "$WS_TMP/pw" >"$WS_TMP/sim.log" 2>&1 &
sim=$!
WS_PIDS+=("$sim")
for _ in $(seq 1200); do
	grep -q "^all $((n - 1)) established" "$WS_TMP/sim.log" && break
	kill -0 "$sim" 2>/dev/null || { cat "$WS_TMP/sim.log" >&2; fail "the simulator exited"; }
	sleep 0.5
done
grep -q "^all $((n - 1)) established" "$WS_TMP/sim.log" || { tail -5 "$WS_TMP/sim.log" >&2; fail "not all simulated peers established in 600 s"; }
wait_links h1 $((n - 1)) 120
t1=$(date +%s.%N)
all_s=$(echo "scale=1; ($t1 - $t0) / 1" | bc)
pretty "all $((n - 1)) peers established with h1 after $all_s s; idle $idle s"
sleep "$idle"

pid=$PID_h1
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
txb() { ip -n "$p-h1" -s -j link show u1 | jq '.[0].stats64.tx.bytes'; }
c0=$(ticks "$pid") s0=$(ticks "$sim") b0=$(txb)
sleep "$cpu_secs"
cpu=$(echo "scale=3; ($(ticks "$pid") - $c0) * 100 / $hz / $cpu_secs" | bc)
simcpu=$(echo "scale=3; ($(ticks "$sim") - $s0) * 100 / $hz / $cpu_secs" | bc)
ub=$((($(txb) - b0) / cpu_secs))
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
anon=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status")
fds=$(find "/proc/$pid/fd" -mindepth 1 -maxdepth 1 | wc -l)
m=$(curl -s --unix-socket "$WS_TMP/h1.sock" http://x/metrics)
gor=$(awk '$1 == "go_goroutines" {print $2}' <<<"$m")
heap=$(awk '$1 == "go_memstats_heap_inuse_bytes" {printf "%d", $2}' <<<"$m")
est=$("$WS_BIN" status --api "$WS_TMP/h1.sock" --json | jq '[.connections[] | select(.state=="established")] | length')
prof="$profdir/peers-$n-heap.pprof"
curl -s --unix-socket "$WS_TMP/h1.sock" "http://x/debug/pprof/heap?gc=1" >"$prof"
# What keeps h1 busy while idle, and how often its links changed state.
curl -s --unix-socket "$WS_TMP/h1.sock" "http://x/debug/pprof/profile?seconds=$cpu_secs" >"$profdir/peers-$n-cpu.pprof"
churn=$(grep -c -E 'link down|link established|disconnected' "$WS_TMP/h1.log" || true)
memcg_json=null golimit=null
if [ -n "${MEMORY_MAX:-}" ]; then
	memcg_json=$(memcg_report)
	golimit=$(grep -o 'msg="memory limit" go_soft_limit_bytes=[0-9]*' "$WS_TMP/h1.log" | grep -o '[0-9]*$' || echo null)
fi
top=$("${GO:-go}" tool pprof -top -sample_index=inuse_space "$WS_BIN" "$prof" 2>/dev/null | sed -n '1,20p')

jq -n --argjson n "$n" --argjson idle "$idle" --argjson cpu_secs "$cpu_secs" --argjson all "$all_s" \
	--arg rev "$("$WS_BIN" --version 2>/dev/null | awk '{print $NF; exit}')" --arg cpu_model "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)" \
	--argjson rss "$rss" --argjson anon "$anon" --argjson heap "$heap" --argjson gor "$gor" --argjson fds "$fds" \
	--argjson cpu "$cpu" --argjson simcpu "$simcpu" --argjson ub "$ub" --argjson est "$est" --arg prof "$prof" --arg top "$top" --argjson churn "$churn" \
	--argjson memcg "$memcg_json" --argjson golimit "${golimit:-null}" \
	'{peers: $n, established: $est, idle_s: $idle, cpu_window_s: $cpu_secs, revision: $rev, cpu: $cpu_model,
	  all_established_s: $all, rss_kib: $rss, rss_anon_kib: $anon, heap_inuse_bytes: $heap, goroutines: $gor, fds: $fds,
	  idle_cpu_pct: $cpu, simulator_cpu_pct: $simcpu, underlay_tx_bytes_per_s: $ub, heap_profile: $prof, heap_top: $top, h1_link_events: $churn,
	  memory_cgroup: $memcg, go_soft_limit_bytes: $golimit}' >"$out"
jq -r '"h1 with \(.peers - 1) peers (\(.established) established), \(.revision), \(.cpu)",
  "  all established after \(.all_established_s) s",
  "  RSS \(.rss_kib / 1024 * 10 | round / 10) MiB, anonymous \(.rss_anon_kib / 1024 * 10 | round / 10) MiB, heap in use \(.heap_inuse_bytes / 1048576 * 10 | round / 10) MiB",
  "  goroutines \(.goroutines), fds \(.fds), link events logged by h1 \(.h1_link_events)",
  "  idle CPU \(.idle_cpu_pct) % of a core (the simulator: \(.simulator_cpu_pct) %), underlay \(.underlay_tx_bytes_per_s) B/s sent",
  if .memory_cgroup then "  in a memory cgroup of \(.memory_cgroup.limit_bytes / 1048576) MiB (Go soft limit \(.go_soft_limit_bytes // 0 | . / 1048576 | floor) MiB): peak \(.memory_cgroup.peak_bytes / 1048576 * 10 | round / 10) MiB, OOM kills \(.memory_cgroup.oom_kills), now anonymous \(.memory_cgroup.anon_bytes / 1048576 * 10 | round / 10) MiB, file \(.memory_cgroup.file_bytes / 1048576 * 10 | round / 10) MiB" else empty end' "$out"
printf '%s\n' "$top"
pretty "wrote $out and $prof"
