#!/usr/bin/env bash
# End-to-end test of the kernel fast path (--datapath vxlan) in network
# namespaces: three hosts on one underlay switch, a container on each.
#
#   c1 10.32.0.1          c2 10.32.0.2          c3 10.32.0.3
#   [weave + TAP + weave-vx] h1   h2 [...]   h3 [...]
#        198.18.0.1         198.18.0.2        198.18.0.3
#                \______ bridge in namespace u ______/
#
# Asserts: containers talk; the vxlan backend installs the FDB entries of
# the remote containers' MACs (bridge sticky static + vxlan dst); iperf3
# traffic goes through the kernel (the vxlan device), not the router; when
# nftables blocks the fast path's UDP port between h1 and h2, that link
# falls back to the userspace transport within the bound (traffic keeps
# flowing, status shows the fallback and its reason, the entries are
# withdrawn) while h1-h3 stays on the fast path; when unblocked it returns
# to the fast path. Prints the fallback and recovery times. A stopped
# router's MACs leave the fast path; the fast path's port drops and counts
# datagrams from an address that is no peer's (x, on the underlay); with
# a password, --datapath vxlan needs --fastpath-unencrypted, and says so
# in status; auto with a password stays in userspace; teardown removes
# the vxlan device and the fence. Needs root; names are unique per run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

[ "$(id -u)" -eq 0 ] || { echo "netns-fastpath-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"

p=wsf-$WS_ID
u=$p-u h1=$p-h1 h2=$p-h2 h3=$p-h3 c1=$p-c1 c2=$p-c2 c3=$p-c3 x=$p-x
nft_table=wsfp_$WS_ID
unblock() { ip netns exec "$h1" nft delete table inet "$nft_table" 2>/dev/null || true; }
trap 'unblock; ws_finish netns-fastpath-test' EXIT

for n in $u $h1 $h2 $h3 $c1 $c2 $c3 $x; do ns_add "$n"; done
ip -n "$u" link add br0 type bridge
ip -n "$u" link set br0 up
for i in 1 2 3; do
	h=$p-h$i
	ip link add ul0 netns "$h" type veth peer name "ul$i" netns "$u"
	ip -n "$u" link set "ul$i" master br0 up
	ip -n "$h" addr add "198.18.0.$i/24" dev ul0
	ip -n "$h" link set ul0 up
done
ip link add ul0 netns "$x" type veth peer name ulx netns "$u"
ip -n "$u" link set ulx master br0 up
ip -n "$x" addr add 198.18.0.66/24 dev ul0
ip -n "$x" link set ul0 up

pretty "starting routers with --datapath vxlan (--insecure: the kernel path is unencrypted)"
for i in 1 2 3; do
	peers=()
	for j in 1 2 3; do [ "$j" -ne "$i" ] && peers+=(--peer "198.18.0.$j"); done
	router_up "$p-h$i" "h$i" "$WS_TMP/h$i.log" --name "02:00:00:00:00:0$i" --nickname "h$i" \
		--listen "198.18.0.$i:6783" --datapath vxlan --insecure "${peers[@]}"
done
for i in 1 2 3; do wait_links "h$i" 2; done
for i in 1 2 3; do ws attach --api "$WS_TMP/h$i.sock" "$p-c$i" "10.32.0.$i/12" >/dev/null; done
mac() { ip -n "$1" -j link show ethws | jq -r '.[0].address'; }
mac1=$(mac "$c1") mac2=$(mac "$c2") mac3=$(mac "$c3")

fast() { ws status fastpath --json --api "$WS_TMP/$1.sock"; }
# link_state ROUTER PEER: the fast-path state of ROUTER's link to PEER.
link_state() { fast "$1" | jq -r --arg p "$2" '.links[] | select(.peer==$p) | .state'; }
# wait_state ROUTER PEER STATE SECONDS: poll every 50 ms.
wait_state() {
	local i
	for i in $(seq $(($4 * 20))); do
		[ "$(link_state "$1" "$2")" = "$3" ] && return 0
		sleep 0.05
	done
	return 1
}
has_fdb() { bridge -n "$1" fdb show dev weave-vx | grep -q "^$2 .*$3"; }
now() { date +%s.%N; }
secs_since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }

ws_check "status fastpath: backend vxlan, asked for" bash -c "'$WS_BIN' status fastpath --json --api $WS_TMP/h1.sock | jq -e '.backend==\"vxlan\" and (.reason|test(\"asked\")) and .udp_port==6785' >/dev/null"
ws_check "the vxlan device is a bridge port with learning off" bash -c "ip -n $h1 -d link show weave-vx | grep -q 'vxlan id 30579.*dstport 6785.*nolearning' && bridge -n $h1 -d link show dev weave-vx | grep -q 'learning off'"

# ARP (broadcast) crosses the userspace path; every switch learns the
# others' MACs and offloads them once the links answer heartbeats.
ws_check "ping c1 -> c2" in_ns "$c1" ping -c 3 -i 0.2 -W 2 10.32.0.2
ws_check "ping c1 -> c3" in_ns "$c1" ping -c 3 -i 0.2 -W 2 10.32.0.3
ws_check "ping c2 -> c3" in_ns "$c2" ping -c 3 -i 0.2 -W 2 10.32.0.3
ws_check "h1's links to h2 and h3 are on the fast path" bash -c "$(declare -f fast link_state wait_state ws); WS_BIN=$WS_BIN WS_TMP=$WS_TMP; wait_state h1 02:00:00:00:00:02 up 10 && wait_state h1 02:00:00:00:00:03 up 10"
wait_fdb() { local i; for i in $(seq 100); do has_fdb "$@" && return 0; sleep 0.1; done; return 1; }
ws_check "h1 FDB: c2's MAC -> weave-vx (bridge, sticky static)" wait_fdb "$h1" "$mac2" "sticky master weave static"
ws_check "h1 FDB: c2's MAC -> vxlan dst 198.18.0.2" wait_fdb "$h1" "$mac2" "dst 198.18.0.2 self permanent"
ws_check "h1 FDB: c3's MAC -> vxlan dst 198.18.0.3" wait_fdb "$h1" "$mac3" "dst 198.18.0.3 self permanent"
ws_check "h2 FDB: c1's MAC -> vxlan dst 198.18.0.1" wait_fdb "$h2" "$mac1" "dst 198.18.0.1 self permanent"
ws_check "h1 FDB: h1's heartbeat MAC on its TAP" bash -c "bridge -n $h1 fdb show dev weave-tap | grep -q 'master weave static'"
ws_check "status connections shows fastpath" bash -c "'$WS_BIN' status connections --api $WS_TMP/h1.sock | grep -q ' h2 .* fast '"

# iperf3 through the kernel: the bytes cross weave-vx, not the router.
counter() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }
in_ns "$c2" iperf3 -s -D -B 10.32.0.2 -p 5201 --pidfile "$WS_TMP/iperf3.pid" >/dev/null
wait_listen "$c2" 5201
vx0=$(counter "$h1" weave-vx tx_bytes)
rt0=$({ ws status --api "$WS_TMP/h1.sock" --json || true; } | jq '.data.from_bridge')
iperf=$(in_ns "$c1" iperf3 -c 10.32.0.2 -p 5201 -t 2 -J 2>&1 || true)
bytes=$(jq -r '.end.sum_received.bytes // 0' <<<"$iperf" 2>/dev/null || echo 0)
bps=$(jq -r '.end.sum_received.bits_per_second // 0' <<<"$iperf" 2>/dev/null || echo 0)
vx1=$(counter "$h1" weave-vx tx_bytes)
rt1=$({ ws status --api "$WS_TMP/h1.sock" --json || true; } | jq '.data.from_bridge')
ws_check "iperf3 c1 -> c2 on the fast path: $(awk "BEGIN{printf \"%.2f\", $bps/1e9}") Gbit/s" awk "BEGIN{exit !($bps > 0)}"
ws_check "the bytes iperf3 received crossed weave-vx ($((vx1 - vx0)) of $bytes)" awk "BEGIN{exit !($vx1 - $vx0 >= $bytes)}"
ws_check "the router read almost nothing from the bridge meanwhile ($((rt1 - rt0)) frames)" awk "BEGIN{exit !($rt1 - $rt0 < 200)}"

# Block the fast path's UDP port between h1 and h2, both ways, in h1.
pretty "blocking UDP 6785 between h1 and h2 (nftables table $nft_table in $h1)"
ip netns exec "$h1" nft -f - <<NFT
table inet $nft_table {
	chain in { type filter hook input priority -10; ip saddr 198.18.0.2 udp dport 6785 drop; }
	chain out { type filter hook output priority -10; ip daddr 198.18.0.2 udp dport 6785 drop; }
}
NFT
t0=$(now)
in_ns "$c1" ping -i 0.05 -w 8 10.32.0.2 >"$WS_TMP/ping-block.out" 2>&1 &
ping_pid=$!
WS_PIDS+=("$ping_pid")
if wait_state h1 02:00:00:00:00:02 probe 10; then
	fallback=$(secs_since "$t0")
	WS_PASSED=$((WS_PASSED + 1)); pretty "ok: h1-h2 fell back to userspace after ${fallback}s (bound: down_after 2s + one 250 ms tick + apply)"
else
	WS_FAILED=$((WS_FAILED + 1)); WS_FAILURES+=("h1-h2 did not fall back within 10 s"); echo "FAIL: h1-h2 did not fall back within 10 s" >&2; fallback=-1
fi
ws_check "h1 withdrew c2's MAC from the FDB" bash -c "! bridge -n $h1 fdb show dev weave-vx | grep -q '^$mac2 '"
ws_check "h2 fell back too (its heartbeats are dropped in h1)" bash -c "$(declare -f fast link_state wait_state ws); WS_BIN=$WS_BIN WS_TMP=$WS_TMP; wait_state h2 02:00:00:00:00:01 probe 10"
ws_check "h1-h3 stays on the fast path" bash -c "[ \"\$('$WS_BIN' status fastpath --json --api $WS_TMP/h1.sock | jq -r '.links[] | select(.peer==\"02:00:00:00:00:03\") | .state')\" = up ] && bridge -n $h1 fdb show dev weave-vx | grep -q '^$mac3 '"
ws_check "status connections: h1-h2 userspace, with the reason" bash -c "'$WS_BIN' status connections --api $WS_TMP/h1.sock | grep '02:00:00:00:00:02(h2)' | grep 'userspace' | grep -q 'heartbeats unanswered'"
wait "$ping_pid" || true
ws_check "traffic kept flowing over userspace during the block ($(grep -o '[0-9.]*% packet loss' "$WS_TMP/ping-block.out"))" \
	bash -c "grep -Eq ' [1-9][0-9]* received' $WS_TMP/ping-block.out"
ws_check "ping c1 -> c2 over userspace" in_ns "$c1" ping -c 3 -i 0.2 -W 2 10.32.0.2
vx0=$(counter "$h1" weave-vx tx_bytes)
iperf=$(in_ns "$c1" iperf3 -c 10.32.0.2 -p 5201 -t 2 -J 2>&1 || true)
ubps=$(jq -r '.end.sum_received.bits_per_second // 0' <<<"$iperf" 2>/dev/null || echo 0)
vx1=$(counter "$h1" weave-vx tx_bytes)
ws_check "iperf3 c1 -> c2 over userspace: $(awk "BEGIN{printf \"%.2f\", $ubps/1e9}") Gbit/s, $((vx1 - vx0)) bytes on weave-vx (heartbeats only)" \
	awk "BEGIN{exit !($ubps > 0 && $vx1 - $vx0 < 1000000)}"

pretty "unblocking"
unblock
t0=$(now)
if wait_state h1 02:00:00:00:00:02 up 10; then
	recovery=$(secs_since "$t0")
	WS_PASSED=$((WS_PASSED + 1)); pretty "ok: h1-h2 back on the fast path after ${recovery}s"
else
	WS_FAILED=$((WS_FAILED + 1)); WS_FAILURES+=("h1-h2 did not return to the fast path within 10 s"); echo "FAIL: h1-h2 did not return to the fast path within 10 s" >&2; recovery=-1
fi
ws_check "c2's MAC is back in h1's FDB" wait_fdb "$h1" "$mac2" "dst 198.18.0.2 self permanent"
ws_check "ping c1 -> c2 on the fast path again" in_ns "$c1" ping -c 3 -i 0.2 -W 2 10.32.0.2
ws_check "status fastpath counts one fallback and a recovery for h2" bash -c "'$WS_BIN' status fastpath --json --api $WS_TMP/h1.sock | jq -e '.links[] | select(.peer==\"02:00:00:00:00:02\") | .fallbacks>=1 and .recoveries>=1' >/dev/null"
ws_check "Prometheus counts fast-path entries, installs and fallbacks" bash -c \
	"m=\$(curl -sf --unix-socket $WS_TMP/h1.sock http://x/metrics); grep -Eq '^weave_switch_fastpath_entries\\{backend=\"vxlan\"\\} [1-9]' <<<\"\$m\" && grep -Eq '^weave_switch_fastpath_events_total\\{backend=\"vxlan\",event=\"fallback\"\\} [1-9]' <<<\"\$m\" && grep -Eq '^weave_switch_fastpath_events_total\\{backend=\"vxlan\",event=\"installed\"\\} [1-9]' <<<\"\$m\""
[ -f "$WS_TMP/iperf3.pid" ] && kill "$(cat "$WS_TMP/iperf3.pid")" 2>/dev/null || true

# A router that stops: its link goes, and with it its MACs' entries.
router_down h3
ws_check "h3 stopped: h1 withdrew c3's MAC" bash -c "for _ in \$(seq 100); do bridge -n $h1 fdb show dev weave-vx | grep -q '^$mac3 ' || exit 0; sleep 0.1; done; exit 1"
ws_check "c2's MAC stays" has_fdb "$h1" "$mac2" "dst 198.18.0.2"

# The fence: the port takes datagrams from the peers only.
fence_drops() { fast h1 | jq -r .fence_drops; }
ws_check "status fastpath names the fence" bash -c "'$WS_BIN' status fastpath --json --api $WS_TMP/h1.sock | jq -e '.fence==\"inet weave-switch-weave\"' >/dev/null"
ws_check "the fence lets h2 in" bash -c "ip netns exec $h1 nft list set inet weave-switch-weave fastpath-peers | grep -q 198.18.0.2"
d0=$(fence_drops)
for _ in 1 2 3; do ip netns exec "$x" bash -c 'printf "\x08\0\0\0\0\x77\x73\0xxxxxxxxxxxxxxxxxxxx" >/dev/udp/198.18.0.1/6785'; done
ws_check "datagrams to 6785 from a non-peer are dropped and counted" bash -c "[ \$('$WS_BIN' status fastpath --json --api $WS_TMP/h1.sock | jq -r .fence_drops) -ge $((d0 + 3)) ]"
ws_check "Prometheus counts the fence's drops" bash -c \
	"curl -sf --unix-socket $WS_TMP/h1.sock http://x/metrics | grep -Eq '^weave_switch_fastpath_fence_dropped_total\\{backend=\"vxlan\"\\} [1-9]'"

# With a password, an unencrypted kernel path must be asked for by name.
printf 's3cret\n' >"$WS_TMP/pw"
ws_check "--datapath vxlan with a password and no --fastpath-unencrypted is refused, naming the flag" bash -c \
	"out=\$(ip netns exec $h1 '$WS_BIN' up --no-docker --no-dns --api $WS_TMP/e0.sock --data-dir $WS_TMP/e0 --bridge wsenc --listen 198.18.0.1:6790 --password-file $WS_TMP/pw --datapath vxlan 2>&1); [ \$? -ne 0 ] && grep -q -- --fastpath-unencrypted <<<\"\$out\""
router_up "$h1" e1 "$WS_TMP/e1.log" --name 02:00:00:00:01:01 --bridge wsenc --listen 198.18.0.1:6790 --password-file "$WS_TMP/pw" --datapath vxlan --fastpath-unencrypted --fastpath-port 6795
router_up "$h2" e2 "$WS_TMP/e2.log" --name 02:00:00:00:01:02 --bridge wsenc --listen 198.18.0.2:6790 --password-file "$WS_TMP/pw" --datapath vxlan --fastpath-unencrypted --fastpath-port 6795 --peer 198.18.0.1:6790
wait_links e1 1
ws_check "--fastpath-unencrypted: status says unencrypted, with the reason" bash -c "'$WS_BIN' status fastpath --json --api $WS_TMP/e1.sock | jq -e '.unencrypted and (.unencrypted_reason|test(\"fastpath-unencrypted\"))' >/dev/null"
ws_check "--fastpath-unencrypted: the encrypted link goes on the fast path" bash -c "$(declare -f fast link_state wait_state ws); WS_BIN=$WS_BIN WS_TMP=$WS_TMP; wait_state e1 02:00:00:00:01:02 up 10"
router_up "$h3" a "$WS_TMP/a.log" --datapath auto --bridge wsauto --password-file "$WS_TMP/pw" --listen 198.18.0.3:6799
ws_check "auto with a password picks userspace" bash -c "for _ in \$(seq 100); do grep -q 'backend=userspace.*encrypted' $WS_TMP/a.log && exit 0; sleep 0.1; done; cat $WS_TMP/a.log; exit 1"
router_down a
router_down e2
router_down e1

# Teardown removes the vxlan device and every entry.
router_down h1
ws_check "h1 teardown removed weave-vx" bash -c "! ip -n $h1 link show weave-vx 2>/dev/null"
ws_check "h1 teardown left only the underlay" bash -c "[ -z \"\$(ip -n $h1 -br link show | grep -v -e '^lo ' -e '^ul0@')\" ]"
ws_check "h1 teardown removed the fence" bash -c "! ip netns exec $h1 nft list tables | grep -q weave-switch"

printf 'fast path: vxlan iperf3 %.2f Gbit/s, userspace fallback %.2f Gbit/s; fallback after %ss, recovery after %ss\n' \
	"$(awk "BEGIN{print $bps/1e9}")" "$(awk "BEGIN{print $ubps/1e9}")" "$fallback" "$recovery"
[ $WS_FAILED -eq 0 ]
