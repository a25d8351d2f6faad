#!/usr/bin/env bash
# weave-switch benchmark: every system side by side, interleaved, in one run,
# reported as a ratio to raw veth measured in the same run (absolute numbers
# on a shared 2-core machine are noise).
#
#   host h1 ns ===== veth (underlay, 198.18.0.0/24) ===== host h2 ns
#     raw veth:  iperf3 h1 -> h2 on the underlay addresses
#     vxlan:     container -> bridge -> kernel vxlan (VNI 42) -> ... -> container
#     sleeve:    container -> bridge weave -> TAP -> weave-switch (UDP sleeve) -> ... -> container
#     fastpath-vxlan: container -> bridge -> weave-switch's kernel fast path
#                (--datapath vxlan: FDB entries on its vxlan port) -> ... -> container
#
# Usage: bench/run.sh [-t SECONDS] [-r REPS] [-o FILE.json] [-s SYSTEMS] [-p DIR] [-b BASE_BIN]
#   writes FILE.json and FILE.svg, its bar chart (bench/plot).
#   defaults: -t 5 -r 3 -o bench/results/latest.json -s "veth vxlan fastpath-vxlan wireguard-go sleeve sleeve-encrypted sleeve-chacha ws-wireguard ws-quic sleeve-nooffload"
#   sleeve-encrypted: routers with a password (--cipher auto: AES-256-GCM
#   per link where both have hardware AES, else ChaCha20-Poly1305).
#   sleeve-chacha: the same with --cipher chacha20-poly1305, to compare
#   the ciphers in one run.
#   ws-wireguard, ws-quic: weave-switch links on the WireGuard / QUIC transports.
#   wireguard-go: stock userspace WireGuard host to host (encrypted, L3).
#   -p DIR: also write a 1-stream CPU profile of every weave-switch router
#   to DIR/SYSTEM-ROUTER.pprof (first repetition; `go tool pprof -top`).
#   sleeve-nooffload: the same routers with --no-offload (TAP without
#   TSO/checksum offloads: every 1426-byte frame crosses userspace alone).
#   -b BASE_BIN: also measure every weave-switch userspace system with the
#   binary BASE_BIN (an earlier build), as SYSTEM@base, interleaved with the
#   rest: a before/after comparison in one run.
#   WS_TASKSET=CPUS in the environment starts every router (and stock
#   wireguard-go) pinned to those CPUs (taskset -c CPUS), e.g. 0 for one core.
#   Variables the routers read (WEAVE_SWITCH_RX_WORKERS=N, say) pass through.
# Needs root, iperf3, jq, ping.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
trap ws_cleanup EXIT

secs=5 reps=3 out=bench/results/latest.json systems="veth vxlan fastpath-vxlan wireguard-go sleeve sleeve-encrypted sleeve-chacha ws-wireguard ws-quic sleeve-nooffload"
profdir= base_bin=
while getopts "t:r:o:s:p:b:" opt; do
	case $opt in
	t) secs=$OPTARG ;;
	r) reps=$OPTARG ;;
	o) out=$OPTARG ;;
	s) systems=$OPTARG ;;
	p) profdir=$OPTARG ;;
	b) base_bin=$(realpath "$OPTARG") ;;
	*) echo "usage: $0 [-t SECONDS] [-r REPS] [-o FILE] [-s SYSTEMS] [-p PROFILE_DIR] [-b BASE_BIN]" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || { echo "bench: no binary at $WS_BIN (make build)" >&2; exit 1; }
if [ -n "$base_bin" ]; then
	[ -x "$base_bin" ] || { echo "bench: no binary at $base_bin" >&2; exit 1; }
	with_base=
	for s in $systems; do
		with_base+=" $s"
		case $s in sleeve | sleeve-encrypted | ws-wireguard | ws-quic) with_base+=" $s@base" ;; esac
	done
	systems=$with_base
fi
# BIN[SYSTEM] is the weave-switch binary a system runs.
declare -A BIN

p=wsb-$WS_ID
h1=$p-h1 h2=$p-h2
for n in $h1 $h2; do ns_add "$n"; done
link_ns "$h1" "$h2" ul0 ul0 198.18.0.1/24 198.18.0.2/24

# The server and client namespace, and the server address, per system.
declare -A SRC DST ADDR
# The two routers of each weave-switch system, for CPU and allocation figures.
declare -A ROUTERS=([sleeve]="h1 h2" [sleeve-encrypted]="e1 e2" [sleeve-chacha]="c1 c2" [sleeve-nooffload]="n1 n2")
SRC[veth]=$h1 DST[veth]=$h2 ADDR[veth]=198.18.0.2

setup_vxlan() {
	vxlan_pair "$p"
	SRC[vxlan]=$p-x1 DST[vxlan]=$p-x2 ADDR[vxlan]=10.99.0.2
}

# The bench measures the transports: routers without a password run
# without a secret (insecure, scripts/lib.sh: the plaintext sleeve, the
# kernel fast path).
setup_sleeve() {
	router_up "$h1" h1 "$WS_TMP/h1.log" --name 02:00:00:00:00:01 --listen 198.18.0.1:6783 --peer 198.18.0.2 $(insecure)
	router_up "$h2" h2 "$WS_TMP/h2.log" --name 02:00:00:00:00:02 --listen 198.18.0.2:6783 --peer 198.18.0.1 $(insecure)
	wait_links h1 1
	ns_add "$p-s1"
	ns_add "$p-s2"
	ws attach --api "$WS_TMP/h1.sock" "$p-s1" 10.32.0.1/12 >/dev/null
	ws attach --api "$WS_TMP/h2.sock" "$p-s2" 10.32.0.2/12 >/dev/null
	SRC[sleeve]=$p-s1 DST[sleeve]=$p-s2 ADDR[sleeve]=10.32.0.2
}

setup_sleeve_nooffload() {
	router_up "$h1" n1 "$WS_TMP/n1.log" --name 02:00:00:00:01:01 --bridge wsnooff --listen 198.18.0.1:6790 --peer 198.18.0.2:6790 --no-offload $(insecure)
	router_up "$h2" n2 "$WS_TMP/n2.log" --name 02:00:00:00:01:02 --bridge wsnooff --listen 198.18.0.2:6790 --peer 198.18.0.1:6790 --no-offload $(insecure)
	wait_links n1 1
	ns_add "$p-n1"
	ns_add "$p-n2"
	ws attach --api "$WS_TMP/n1.sock" "$p-n1" 10.33.0.1/16 >/dev/null
	ws attach --api "$WS_TMP/n2.sock" "$p-n2" 10.33.0.2/16 >/dev/null
	SRC[sleeve-nooffload]=$p-n1 DST[sleeve-nooffload]=$p-n2 ADDR[sleeve-nooffload]=10.33.0.2
}

# weave-switch with the kernel fast path: the routers offload the
# containers' MACs to their vxlan device once the link answers fast-path
# heartbeats; the bench waits for the entries before measuring.
setup_fastpath_vxlan() {
	router_up "$h1" f1 "$WS_TMP/f1.log" --name 02:00:00:00:08:01 --bridge wsfast --listen 198.18.0.1:6792 --peer 198.18.0.2:6792 --datapath vxlan $(insecure)
	router_up "$h2" f2 "$WS_TMP/f2.log" --name 02:00:00:00:08:02 --bridge wsfast --listen 198.18.0.2:6792 --peer 198.18.0.1:6792 --datapath vxlan $(insecure)
	wait_links f1 1
	ns_add "$p-f1"
	ns_add "$p-f2"
	ws attach --api "$WS_TMP/f1.sock" "$p-f1" 10.38.0.1/16 >/dev/null
	ws attach --api "$WS_TMP/f2.sock" "$p-f2" 10.38.0.2/16 >/dev/null
	ip netns exec "$p-f1" ping -c 2 -W 2 10.38.0.2 >/dev/null || true # ARP over userspace: both switches learn
	local r ok=0
	for _ in $(seq 100); do
		ok=1
		for r in f1 f2; do
			[ "$("$WS_BIN" status fastpath --json --api "$WS_TMP/$r.sock" | jq '.entries')" -ge 1 ] || ok=0
		done
		[ $ok = 1 ] && break
		sleep 0.1
	done
	[ $ok = 1 ] || { "$WS_BIN" status fastpath --api "$WS_TMP/f1.sock" >&2; echo "bench: fastpath-vxlan: no fast-path entries after 10 s" >&2; exit 1; }
	SRC[fastpath-vxlan]=$p-f1 DST[fastpath-vxlan]=$p-f2 ADDR[fastpath-vxlan]=10.38.0.2
	ROUTERS[fastpath-vxlan]="f1 f2"
}

# wireguard-go (userspace, encrypted, L3, with its TUN offloads): host to
# host over the same underlay, the reference for the encrypted transports.
setup_wireguard_go() {
	local wg=bin/wireguard-go i
	[ -x "$wg" ] || { echo "bench: no bin/wireguard-go (scripts/deps.sh bench builds it)" >&2; exit 1; }
	for i in 1 2; do
		(umask 077; wg genkey >"$WS_TMP/wg$i.key")
		wg pubkey <"$WS_TMP/wg$i.key" >"$WS_TMP/wg$i.pub"
		WG_PROCESS_FOREGROUND=1 ${WS_TASKSET:+taskset -c "$WS_TASKSET"} ip netns exec "$p-h$i" "$wg" -f "wgb$WS_ID$i" >"$WS_TMP/wg$i.log" 2>&1 &
		WS_PIDS+=($!)
		eval "PID_wgo$i=$!" # for its CPU use (ip netns exec execs, so $! is wireguard-go)
	done
	for i in 1 2; do
		# The UAPI socket lives in /var/run/wireguard, shared by every
		# namespace: each device needs a name unique on the machine.
		local dev="wgb$WS_ID$i"
		for _ in $(seq 50); do ip -n "$p-h$i" link show "$dev" >/dev/null 2>&1 && break; sleep 0.1; done
		local other=$((3 - i))
		ip netns exec "$p-h$i" wg set "$dev" private-key "$WS_TMP/wg$i.key" listen-port 51820 \
			peer "$(cat "$WS_TMP/wg$other.pub")" endpoint "198.18.0.$other:51820" allowed-ips "10.34.0.$other/32"
		ip -n "$p-h$i" addr add "10.34.0.$i/24" dev "$dev"
		ip -n "$p-h$i" link set "$dev" up
	done
	SRC[wireguard-go]=$h1 DST[wireguard-go]=$h2 ADDR[wireguard-go]=10.34.0.2
	ROUTERS[wireguard-go]="wgo1 wgo2"
}

setup_sleeve_encrypted() {
	printf 'bench-password\n' >"$WS_TMP/pw"
	router_up "$h1" e1 "$WS_TMP/e1.log" --name 02:00:00:00:02:01 --bridge wsenc --listen 198.18.0.1:6791 --peer 198.18.0.2:6791 --password-file "$WS_TMP/pw"
	router_up "$h2" e2 "$WS_TMP/e2.log" --name 02:00:00:00:02:02 --bridge wsenc --listen 198.18.0.2:6791 --peer 198.18.0.1:6791 --password-file "$WS_TMP/pw"
	wait_links e1 1
	ns_add "$p-e1"
	ns_add "$p-e2"
	ws attach --api "$WS_TMP/e1.sock" "$p-e1" 10.35.0.1/16 >/dev/null
	ws attach --api "$WS_TMP/e2.sock" "$p-e2" 10.35.0.2/16 >/dev/null
	SRC[sleeve-encrypted]=$p-e1 DST[sleeve-encrypted]=$p-e2 ADDR[sleeve-encrypted]=10.35.0.2
}

setup_sleeve_chacha() {
	printf 'bench-password\n' >"$WS_TMP/pw"
	router_up "$h1" c1 "$WS_TMP/c1.log" --name 02:00:00:00:05:01 --bridge wschacha --listen 198.18.0.1:6797 --peer 198.18.0.2:6797 --password-file "$WS_TMP/pw" --cipher chacha20-poly1305
	router_up "$h2" c2 "$WS_TMP/c2.log" --name 02:00:00:00:05:02 --bridge wschacha --listen 198.18.0.2:6797 --peer 198.18.0.1:6797 --password-file "$WS_TMP/pw" --cipher chacha20-poly1305
	wait_links c1 1
	ns_add "$p-c1"
	ns_add "$p-c2"
	ws attach --api "$WS_TMP/c1.sock" "$p-c1" 10.41.0.1/16 >/dev/null
	ws attach --api "$WS_TMP/c2.sock" "$p-c2" 10.41.0.2/16 >/dev/null
	SRC[sleeve-chacha]=$p-c1 DST[sleeve-chacha]=$p-c2 ADDR[sleeve-chacha]=10.41.0.2
}

# weave-switch links on the WireGuard and QUIC transports (routers ask for
# the transport with --transport; each pair on its own bridge and ports).
setup_link() { # setup_link SYSTEM TRANSPORT N
	local sys=$1 tr=$2 n=$3
	router_up "$h1" "${tr}1" "$WS_TMP/${tr}1.log" --name "02:00:00:00:0$n:01" --bridge "ws$tr" --listen "198.18.0.1:68$n$n" \
		--transport "$tr" --wireguard-listen ":5182$n" --quic-listen ":68$n$((n + 1))" --peer "198.18.0.2:68$n$n" $(insecure)
	router_up "$h2" "${tr}2" "$WS_TMP/${tr}2.log" --name "02:00:00:00:0$n:02" --bridge "ws$tr" --listen "198.18.0.2:68$n$n" \
		--transport "$tr" --wireguard-listen ":5182$n" --quic-listen ":68$n$((n + 1))" $(insecure)
	wait_links "${tr}1" 1 30
	ns_add "$p-${tr}1"
	ns_add "$p-${tr}2"
	ws attach --api "$WS_TMP/${tr}1.sock" "$p-${tr}1" "10.3$n.0.1/16" >/dev/null
	ws attach --api "$WS_TMP/${tr}2.sock" "$p-${tr}2" "10.3$n.0.2/16" >/dev/null
	SRC[$sys]=$p-${tr}1 DST[$sys]=$p-${tr}2 ADDR[$sys]=10.3$n.0.2
	ROUTERS[$sys]="${tr}1 ${tr}2"
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# setup_base SYSTEM: SYSTEM@base, the same set-up with the base binary on
# its own routers, bridge, ports and container namespaces.
setup_base() {
	local s=$1 tr keep=$WS_BIN
	WS_BIN=$base_bin
	case $s in
	sleeve)
		router_up "$h1" b1 "$WS_TMP/b1.log" --name 02:00:00:00:03:01 --bridge wsbase --listen 198.18.0.1:6795 --peer 198.18.0.2:6795 $(insecure)
		router_up "$h2" b2 "$WS_TMP/b2.log" --name 02:00:00:00:03:02 --bridge wsbase --listen 198.18.0.2:6795 --peer 198.18.0.1:6795 $(insecure)
		base_pair "$s" b1 b2 10.36.0
		;;
	sleeve-encrypted)
		printf 'bench-password\n' >"$WS_TMP/pw"
		router_up "$h1" be1 "$WS_TMP/be1.log" --name 02:00:00:00:04:01 --bridge wsbenc --listen 198.18.0.1:6796 --peer 198.18.0.2:6796 --password-file "$WS_TMP/pw"
		router_up "$h2" be2 "$WS_TMP/be2.log" --name 02:00:00:00:04:02 --bridge wsbenc --listen 198.18.0.2:6796 --peer 198.18.0.1:6796 --password-file "$WS_TMP/pw"
		base_pair "$s" be1 be2 10.37.0
		;;
	ws-wireguard | ws-quic)
		tr=${s#ws-}
		local n=8
		[ "$tr" = quic ] && n=9
		router_up "$h1" "b${tr}1" "$WS_TMP/b${tr}1.log" --name "02:00:00:00:0$n:01" --bridge "wsb$tr" --listen "198.18.0.1:68$n$n" \
			--transport "$tr" --wireguard-listen ":5182$n" --quic-listen ":69$n$n" --peer "198.18.0.2:68$n$n" $(insecure)
		router_up "$h2" "b${tr}2" "$WS_TMP/b${tr}2.log" --name "02:00:00:00:0$n:02" --bridge "wsb$tr" --listen "198.18.0.2:68$n$n" \
			--transport "$tr" --wireguard-listen ":5182$n" --quic-listen ":69$n$n" $(insecure)
		base_pair "$s" "b${tr}1" "b${tr}2" "10.3$n.0"
		;;
	esac
	BIN[$s@base]=$base_bin
	WS_BIN=$keep
}
base_pair() { # base_pair SYSTEM R1 R2 NET: connect the two base routers' containers
	local s=$1 r1=$2 r2=$3 net=$4
	wait_links "$r1" 1 30
	ns_add "$p-$r1"
	ns_add "$p-$r2"
	ws attach --api "$WS_TMP/$r1.sock" "$p-$r1" "$net.1/16" >/dev/null
	ws attach --api "$WS_TMP/$r2.sock" "$p-$r2" "$net.2/16" >/dev/null
	SRC[$s@base]=$p-$r1 DST[$s@base]=$p-$r2 ADDR[$s@base]=$net.2
	ROUTERS[$s@base]="$r1 $r2"
}

for s in $systems; do
	case $s in
	*@base) setup_base "${s%@base}" ;;
	veth) ;;
	vxlan) setup_vxlan ;;
	fastpath-vxlan) setup_fastpath_vxlan ;;
	sleeve) setup_sleeve ;;
	sleeve-nooffload) setup_sleeve_nooffload ;;
	wireguard-go) setup_wireguard_go ;;
	sleeve-encrypted) setup_sleeve_encrypted ;;
	sleeve-chacha) setup_sleeve_chacha ;;
	ws-wireguard) setup_link ws-wireguard wireguard 6 ;;
	ws-quic) setup_link ws-quic quic 7 ;;
	*) echo "bench: unknown system $s" >&2; exit 2 ;;
	esac
	ip netns exec "${DST[$s]}" iperf3 -s -D --pidfile "$WS_TMP/iperf3-$s.pid" >/dev/null
	wait_listen "${DST[$s]}" 5201
	ip netns exec "${SRC[$s]}" ping -c 2 -W 2 "${ADDR[$s]}" >/dev/null || { echo "bench: $s does not pass traffic" >&2; exit 1; }
done
sleep 0.5
declare -A RSS_IDLE
for n in h1 n1; do
	eval "pid=\${PID_$n:-}"
	[ -n "$pid" ] && RSS_IDLE[$n]=$(rss_kib "$pid")
done

declare -A PROFILED
# SCRAPE_ALLOCS[SYSTEM]: the allocations one reading of its routers'
# counters costs them, measured idle, subtracted from each sample.
declare -A SCRAPE_ALLOCS
declare -A RES # RES[system,metric] = space-separated samples
# router_counters SYSTEM -> "cpu_ticks mallocs frames drops" summed over its
# routers (drops: what the WireGuard and QUIC transports counted as dropped)
router_counters() {
	local ticks=0 mallocs=0 frames=0 drops=0 r pid m f d metrics
	for r in ${ROUTERS[$1]:-}; do
		eval "pid=\${PID_$r:-}"
		[ -n "$pid" ] || continue
		ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$pid/stat")))
		[ -S "$WS_TMP/$r.sock" ] || continue # stock wireguard-go: CPU only
		metrics=$(curl -sf --unix-socket "$WS_TMP/$r.sock" http://x/metrics)
		m=$(awk '/^go_memstats_mallocs_total / {printf "%d", $2}' <<<"$metrics")
		d=$(awk '/^weave_switch_transport_dropped_total/ {s += $2} END {printf "%d", s}' <<<"$metrics")
		f=$("${BIN[$1]:-$WS_BIN}" status --api "$WS_TMP/$r.sock" --json | jq '.data.from_bridge + .data.to_bridge')
		mallocs=$((mallocs + ${m:-0})) frames=$((frames + ${f:-0})) drops=$((drops + ${d:-0}))
	done
	echo "$ticks $mallocs $frames $drops"
}
sample() { # sample SYSTEM STREAMS: sets GBPS; for 1 stream also records router CPU and allocs
	local s=$1 n=$2 j before after gbps t0 m0 f0 d0 t1 m1 f1 d1 cores
	before=$(router_counters "$s")
	local profs=() r
	if [ -n "$profdir" ] && [ "$n" = 1 ] && [ -z "${PROFILED[$s]:-}" ]; then
		mkdir -p "$profdir"
		for r in ${ROUTERS[$s]:-}; do
			curl -sf --unix-socket "$WS_TMP/$r.sock" -o "$profdir/$s-$r.pprof" \
				"http://x/debug/pprof/profile?seconds=$((secs > 2 ? secs - 1 : 1))" &
			profs+=($!)
		done
		PROFILED[$s]=1
	fi
	j=$(ip netns exec "${SRC[$s]}" iperf3 -c "${ADDR[$s]}" -t "$secs" -P "$n" -J 2>/dev/null || true)
	gbps=$(jq -r '(.end.sum_received.bits_per_second // 0) / 1e9' <<<"$j" 2>/dev/null || echo 0)
	[ "$n" != 1 ] || RES[$s,retr]="${RES[$s,retr]:-} $(jq -r '.end.sum_sent.retransmits // 0' <<<"$j" 2>/dev/null || echo 0)"
	[ ${#profs[@]} -eq 0 ] || wait "${profs[@]}" || true
	after=$(router_counters "$s")
	if [ -n "${ROUTERS[$s]:-}" ] && [ "$n" = 1 ]; then
		read -r t0 m0 f0 d0 <<<"$before"
		read -r t1 m1 f1 d1 <<<"$after"
		RES[$s,drops]="${RES[$s,drops]:-} $((d1 - d0))"
		cores=$(awk "BEGIN{print ($t1-$t0)/$(getconf CLK_TCK)/$secs}")
		RES[$s,cpu_per_gbps]="${RES[$s,cpu_per_gbps]:-} $(awk "BEGIN{print ($gbps>0)?$cores/$gbps:0}")"
		# The allocations of the status and metrics reads themselves (a
		# scrape per router between the two samples) are not the data path's.
		RES[$s,allocs_per_frame]="${RES[$s,allocs_per_frame]:-} $(awk "BEGIN{a=$m1-$m0-${SCRAPE_ALLOCS[$s]:-0}; print ($f1-$f0>1000)?(a>0?a:0)/($f1-$f0):0}")" # a fast path leaves the router few frames
	fi
	GBPS=$gbps
}
ping_ms() { # ping_ms SYSTEM -> average RTT in ms
	ip netns exec "${SRC[$1]}" ping -q -c 50 -i 0.02 "${ADDR[$1]}" 2>/dev/null |
		sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p'
}

for s in $systems; do
	[ -n "${ROUTERS[$s]:-}" ] || continue
	read -r _ m0 _ _ <<<"$(router_counters "$s")"
	read -r _ m1 _ _ <<<"$(router_counters "$s")"
	SCRAPE_ALLOCS[$s]=$((m1 - m0))
done

for r in $(seq "$reps"); do
	for metric in tcp1 tcp4 ping; do
		for s in $systems; do
			case $metric in
			tcp1) sample "$s" 1; v=$GBPS ;;
			tcp4) sample "$s" 4; v=$GBPS ;;
			ping) v=$(ping_ms "$s") ;;
			esac
			RES[$s,$metric]="${RES[$s,$metric]:-} ${v:-0}"
			pretty "rep $r/$reps $metric $s: $v"
		done
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END{if(NR==0){print 0}else if(NR%2){print a[(NR+1)/2]}else{print (a[NR/2]+a[NR/2+1])/2}}'; }

mkdir -p "$(dirname "$out")"
for n in h1 n1; do
	eval "pid=\${PID_$n:-}"
	[ -n "$pid" ] || continue
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
	printf 'router %s RSS: %s KiB idle, %s KiB peak under load\n' "$n" "${RSS_IDLE[$n]}" "$hwm" >&2
done
base1=$(median <<<"${RES[veth,tcp1]:-0}")
base4=$(median <<<"${RES[veth,tcp4]:-0}")
json='{"date":"'"$(date -Is)"'","seconds":'"$secs"',"reps":'"$reps"',"nproc":'"$(nproc)"',"taskset":"'"${WS_TASKSET:-}"'","systems":{}}'
printf '\n%-22s %12s %7s %12s %7s %10s %10s\n' system "tcp1 Gbit/s" ratio "tcp4 Gbit/s" ratio "ping ms" "tcp1 retr" >&2
for s in $systems; do
	t1=$(median <<<"${RES[$s,tcp1]}")
	t4=$(median <<<"${RES[$s,tcp4]}")
	pg=$(median <<<"${RES[$s,ping]}")
	r1=$(awk "BEGIN{print ($base1>0)?$t1/$base1:0}")
	r4=$(awk "BEGIN{print ($base4>0)?$t4/$base4:0}")
	rt=$(median <<<"${RES[$s,retr]:-0}")
	printf '%-22s %12.2f %7.3f %12.2f %7.3f %10.3f %10.0f' "$s" "$t1" "$r1" "$t4" "$r4" "$pg" "$rt"
	cpg=0 apf=0 drp=0
	if [ -n "${RES[$s,cpu_per_gbps]:-}" ]; then
		cpg=$(median <<<"${RES[$s,cpu_per_gbps]}")
		apf=$(median <<<"${RES[$s,allocs_per_frame]}")
		drp=$(median <<<"${RES[$s,drops]:-0}")
		if [ "$s" = wireguard-go ]; then
			printf '   its CPU %.2f cores per Gbit/s' "$cpg"
		else
			printf '   router CPU %.2f cores per Gbit/s, %.4f allocs per frame, %.0f transport drops' "$cpg" "$apf" "$drp"
		fi
	fi
	printf '\n'
	json=$(jq --arg s "$s" --argjson t1 "$t1" --argjson r1 "$r1" --argjson t4 "$t4" --argjson r4 "$r4" --argjson pg "${pg:-0}" \
		--arg raw1 "${RES[$s,tcp1]}" --arg raw4 "${RES[$s,tcp4]}" --argjson cpg "$cpg" --argjson apf "$apf" --argjson rt "$rt" --argjson drp "$drp" \
		'.systems[$s]={tcp1_gbps:$t1,tcp1_ratio:$r1,tcp4_gbps:$t4,tcp4_ratio:$r4,ping_ms:$pg,tcp1_samples:$raw1,tcp4_samples:$raw4,router_cores_per_gbps:$cpg,allocs_per_frame:$apf,tcp1_retransmits:$rt,tcp1_transport_drops:$drp}' <<<"$json")
done
# The fast path's target is relative to the kernel's own container ->
# bridge -> vxlan path measured in the same run.
if [[ " $systems " == *" vxlan "* && " $systems " == *" fastpath-vxlan "* ]]; then
	v1=$(median <<<"${RES[vxlan,tcp1]}") f1=$(median <<<"${RES[fastpath-vxlan,tcp1]}")
	v4=$(median <<<"${RES[vxlan,tcp4]}") f4=$(median <<<"${RES[fastpath-vxlan,tcp4]}")
	fr1=$(awk "BEGIN{print ($v1>0)?$f1/$v1:0}") fr4=$(awk "BEGIN{print ($v4>0)?$f4/$v4:0}")
	printf '\nfastpath-vxlan / vxlan (container -> bridge -> kernel vxlan): tcp1 %.3f, tcp4 %.3f (target >= 0.90)\n' "$fr1" "$fr4" >&2
	json=$(jq --argjson r1 "$fr1" --argjson r4 "$fr4" '.fastpath_vs_vxlan={tcp1_ratio:$r1,tcp4_ratio:$r4}' <<<"$json")
fi
# The encrypted sleeve's target is relative to the plain sleeve in the
# same run.
if [[ " $systems " == *" sleeve "* ]]; then
	s1=$(median <<<"${RES[sleeve,tcp1]}") s4=$(median <<<"${RES[sleeve,tcp4]}")
	for e in sleeve-encrypted sleeve-chacha; do
		[[ " $systems " == *" $e "* ]] || continue
		e1=$(median <<<"${RES[$e,tcp1]}") e4=$(median <<<"${RES[$e,tcp4]}")
		er1=$(awk "BEGIN{print ($s1>0)?$e1/$s1:0}") er4=$(awk "BEGIN{print ($s4>0)?$e4/$s4:0}")
		printf '%s / sleeve: tcp1 %.3f, tcp4 %.3f (target >= 0.70)\n' "$e" "$er1" "$er4" >&2
		json=$(jq --arg e "$e" --argjson r1 "$er1" --argjson r4 "$er4" '.encrypted_vs_sleeve[$e]={tcp1_ratio:$r1,tcp4_ratio:$r4}' <<<"$json")
	done
fi
# The latency target: a userspace system's ping against the kernel's own
# container -> bridge -> vxlan path in the same run.
if [[ " $systems " == *" vxlan "* ]]; then
	vp=$(median <<<"${RES[vxlan,ping]}")
	printf '\nping / vxlan ping (%.3f ms), target <= 2:' "$vp" >&2
	for s in $systems; do
		case $s in veth | vxlan | fastpath-vxlan | wireguard-go) continue ;; esac
		pr=$(awk "BEGIN{print ($vp>0)?$(median <<<"${RES[$s,ping]}")/$vp:0}")
		printf ' %s %.2f' "$s" "$pr" >&2
		json=$(jq --arg s "$s" --argjson pr "$pr" '.systems[$s].ping_vs_vxlan=$pr' <<<"$json")
	done
	printf '\n' >&2
fi
echo "$json" >"$out"
echo "bench: results in $out (median of $reps interleaved repetitions, ratio to raw veth in this run)" >&2
# The table as a bar chart next to the results (bench/plot, no dependency).
if ${GO:-go} run ./bench/plot -o "${out%.json}.svg" "$out"; then
	echo "bench: chart in ${out%.json}.svg" >&2
else
	echo "bench: no chart (bench/plot failed)" >&2
fi
