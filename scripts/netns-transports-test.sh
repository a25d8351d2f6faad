#!/usr/bin/env bash
# Three hosts whose three links use three transports at the same time:
#
#              h1 ──sleeve── h2
#                \          /
#               quic   wireguard
#                  \      /
#                     h3
#
# All on one LAN (198.18.0.0/24); every router offers all three transports
# and asks for one per peer (--peer HOST,transport=T; h3 from a --config
# file). Asserts: every
# container pings every other, iperf3 over the WireGuard and QUIC links,
# status --json shows the three transports; a link asking for a transport
# the peer does not offer falls back to the sleeve, visibly.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-transports-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"

trap 'ws_finish netns-transports-test' EXIT

p=wst3-$WS_ID
ns_add "$p-lan"
ip -n "$p-lan" link add lan type bridge
ip -n "$p-lan" link set lan up
for i in 1 2 3 4; do
	ns_add "$p-h$i"
	ns_add "$p-c$i"
	ip link add eth0 netns "$p-h$i" type veth peer name "h$i" netns "$p-lan"
	ip -n "$p-lan" link set "h$i" master lan up
	ip -n "$p-h$i" addr add "198.18.0.$i/24" dev eth0
	ip -n "$p-h$i" link set eth0 up
done

# The routers share a password: every link, the sleeve included, is
# encrypted with keys from the authenticated handshake.
printf 'transports-test-secret\n' >"$WS_TMP/pw"
common=(--listen 0.0.0.0:6783 --no-discovery --offer wireguard --offer quic --password-file "$WS_TMP/pw")
router_up "$p-h1" h1 "$WS_TMP/h1.log" --name 02:00:00:00:00:01 "${common[@]}" --peer 198.18.0.2
router_up "$p-h2" h2 "$WS_TMP/h2.log" --name 02:00:00:00:00:02 "${common[@]}" --peer 198.18.0.3,transport=wireguard
# h3 takes its peer and transport from a config file (--config).
cat >"$WS_TMP/h3.yaml" <<'YAML'
name: "02:00:00:00:00:03"
offer: [wireguard, quic]
no-discovery: true
password-file: PWFILE
peer:
  - 198.18.0.1,transport=quic
YAML
sed -i "s#PWFILE#$WS_TMP/pw#" "$WS_TMP/h3.yaml"
router_up "$p-h3" h3 "$WS_TMP/h3.log" --config "$WS_TMP/h3.yaml" --listen 0.0.0.0:6783
for i in 1 2 3; do wait_links "h$i" 2 30; done
for i in 1 2 3; do ws attach --api "$WS_TMP/h$i.sock" "$p-c$i" "10.32.0.$i/12" >/dev/null; done

transport_of() { # transport_of ROUTER PEER-NAME
	{ "$WS_BIN" status --api "$WS_TMP/$1.sock" --json || true; } | jq -r ".connections[] | select(.peer==\"$2\") | .transport"
}
ws_check "h1-h2 link uses the sleeve (both ends agree)" \
	test "$(transport_of h1 02:00:00:00:00:02)/$(transport_of h2 02:00:00:00:00:01)" = sleeve/sleeve
ws_check "h2-h3 link uses WireGuard (both ends agree)" \
	test "$(transport_of h2 02:00:00:00:00:03)/$(transport_of h3 02:00:00:00:00:02)" = wireguard/wireguard
ws_check "h3-h1 link uses QUIC (both ends agree)" \
	test "$(transport_of h3 02:00:00:00:00:01)/$(transport_of h1 02:00:00:00:00:03)" = quic/quic
ws_check "every link is encrypted (WireGuard, QUIC and the sleeve)" bash -c "'$WS_BIN' status --api $WS_TMP/h1.sock --json | jq -e '[.connections[] | .encrypted] | all and length==2' >/dev/null"
ws_check "WireGuard and QUIC links are encrypted" bash -c "'$WS_BIN' status --api $WS_TMP/h3.sock --json | jq -e '[.connections[] | select(.transport!=\"sleeve\") | .encrypted] | all and length==2' >/dev/null"

all_pairs() {
	local a b bad=0
	for a in 1 2 3; do for b in 1 2 3; do
		[ "$a" = "$b" ] && continue
		ip netns exec "$p-c$a" ping -c 2 -i 0.2 -W 2 "10.32.0.$b" >/dev/null 2>&1 || { echo "c$a cannot reach c$b"; bad=1; }
	done; done
	return $bad
}
ws_check "every container pings every other over the three links" all_pairs

iperf_over() { # iperf_over SRC DST PORT -> fails unless data moved
	ip netns exec "$p-c$2" iperf3 -s -D -1 -B "10.32.0.$2" -p "$3" --pidfile "$WS_TMP/iperf$3.pid" >/dev/null
	wait_listen "$p-c$2" "$3"
	local bps
	bps=$(ip netns exec "$p-c$1" iperf3 -c "10.32.0.$2" -p "$3" -t 2 -J 2>/dev/null | jq -r '.end.sum_received.bits_per_second // 0')
	echo "$(awk "BEGIN{printf \"%.2f\", $bps/1e9}") Gbit/s"
	awk "BEGIN{exit !($bps > 0)}"
}
ws_check "iperf3 over the WireGuard link (c2 -> c3)" iperf_over 2 3 5301
ws_check "iperf3 over the QUIC link (c3 -> c1)" iperf_over 3 1 5302
ws_check "iperf3 over the sleeve link (c1 -> c2)" iperf_over 1 2 5303
metrics_of() { curl -sf --unix-socket "$WS_TMP/$1.sock" http://x/metrics; }
ws_check "metrics label each link with its transport" bash -c \
	"$(declare -f metrics_of); WS_TMP=$WS_TMP; metrics_of h3 | grep -q 'weave_switch_link_tx_frames_total{peer=\"02:00:00:00:00:02\",transport=\"wireguard\"}' && metrics_of h3 | grep -q 'weave_switch_link_tx_frames_total{peer=\"02:00:00:00:00:01\",transport=\"quic\"}'"
ws_check "metrics count quic-go's own drops" bash -c \
	"$(declare -f metrics_of); WS_TMP=$WS_TMP; metrics_of h3 | grep -q 'weave_switch_transport_dropped_total{reason=\"quic_receive_queue\",transport=\"quic\"}'"
ws_check "metrics show the QUIC receive gate" bash -c \
	"$(declare -f metrics_of); WS_TMP=$WS_TMP; metrics_of h3 | grep -q '^weave_switch_transport_events_total{event=\"gate_waits\",transport=\"quic\"}' && metrics_of h3 | grep -q '^weave_switch_transport_events_total{event=\"gate_resets\",transport=\"quic\"}'"
ws_check "status shows each link's path MTU (1500)" bash -c \
	"'$WS_BIN' status --api $WS_TMP/h1.sock --json | jq -e '[.connections[] | .path_mtu] == [1500, 1500]' >/dev/null"

# Path MTU: the underlay narrows to 1280 mid-run, under every link at once.
# Each transport follows it (the sleeve after its first EMSGSIZE, WireGuard
# and QUIC from the kernel's path MTU within 2 s; QUIC reconnects with
# smaller packets): full-size overlay frames with DF keep crossing, in
# pieces, and the overlay MTU does not change.
for i in 1 2 3; do ip -n "$p-h$i" link set eth0 mtu 1280; ip -n "$p-lan" link set "h$i" mtu 1280; done
df_ping() { # df_ping SRC DST: 1300-byte DF pings, retried while the link adapts
	local i
	for i in $(seq 10); do
		ip netns exec "$p-c$1" ping -c 2 -i 0.2 -W 1 -M do -s 1300 "10.32.0.$2" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	return 1
}
ws_check "underlay MTU 1280: a 1300-byte DF ping crosses the WireGuard link" df_ping 2 3
ws_check "underlay MTU 1280: a 1300-byte DF ping crosses the QUIC link" df_ping 3 1
ws_check "underlay MTU 1280: a 1300-byte DF ping crosses the sleeve link" df_ping 1 2
ws_check "underlay MTU 1280: iperf3 over the WireGuard link" iperf_over 2 3 5311
ws_check "underlay MTU 1280: iperf3 over the QUIC link" iperf_over 3 1 5312
ws_check "underlay MTU 1280: iperf3 over the sleeve link" iperf_over 1 2 5313
ws_check "status shows the narrower path MTU on every link of h3" bash -c \
	"'$WS_BIN' status --api $WS_TMP/h3.sock --json | jq -e '[.connections[] | .path_mtu] == [1280, 1280]' >/dev/null"
quic_resets() { # PMTU resets counted at either end of the QUIC link (h1, h3)
	local n=0 r
	for r in h1 h3; do
		n=$((n + $({ "$WS_BIN" status --api "$WS_TMP/$r.sock" --json || true; } | jq '[.transports[] | select(.name=="quic") | .counters.pmtu_resets] | add // 0')))
	done
	echo "$n PMTU resets"
	[ "$n" -ge 1 ]
}
ws_check "the QUIC link reconnected for the narrower path (either end)" quic_resets
for i in 1 2 3; do ip -n "$p-lan" link set "h$i" mtu 1500; ip -n "$p-h$i" link set eth0 mtu 1500; done

# A fourth router offers only the sleeve: a link asking it for WireGuard
# falls back to the sleeve and both ends say why.
router_up "$p-h4" h4 "$WS_TMP/h4.log" --name 02:00:00:00:00:04 --listen 0.0.0.0:6783 --no-discovery --password-file "$WS_TMP/pw"
ws connect --api "$WS_TMP/h1.sock" --transport wireguard 198.18.0.4
wait_links h4 1 30
ws_check "a peer without WireGuard: the link falls back to the sleeve, visibly" bash -c \
	"'$WS_BIN' status --api $WS_TMP/h1.sock --json | jq -e '.connections[] | select(.peer==\"02:00:00:00:00:04\" and .transport==\"sleeve\" and .transport_asked==\"wireguard\" and (.transport_fallback | contains(\"does not offer\")))' >/dev/null"
ws_check "with a secret the fallback sleeve is encrypted too" bash -c \
	"'$WS_BIN' status --api $WS_TMP/h1.sock --json | jq -e '.connections[] | select(.peer==\"02:00:00:00:00:04\" and .transport==\"sleeve\" and .encrypted)' >/dev/null"
ws_check "status connections marks the fallback" bash -c "'$WS_BIN' status connections --api $WS_TMP/h1.sock | grep -q 'sleeve\\*.*does not offer'"
for i in 4 3 2 1; do router_down "h$i"; done
[ $WS_FAILED -eq 0 ]
