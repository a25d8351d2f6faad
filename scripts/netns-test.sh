#!/usr/bin/env bash
# End-to-end test of weave-switch in network namespaces: real `weave-switch up`
# processes, containers as namespaces, real traffic.
#
#        container c1 10.32.0.1   c2 10.32.0.2          c3 10.32.0.3
#                   \             /                      |
#                 [bridge weave + TAP]             [bridge weave + TAP]
#                  host h1 router  ===== veth =====  host h2 router
#                   198.18.0.1/24   (underlay, UDP)    198.18.0.2/24
#
# Asserts: ping both ways across hosts and on one host, ARP resolution,
# broadcast reaching every host, TCP with iperf3 across, status, detach,
# clear errors for bad input, and a teardown that leaves nothing behind.
# Needs root. Names are unique per run (wst-$$-…); everything is removed on
# exit, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

[ "$(id -u)" -eq 0 ] || { echo "netns-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"

trap 'ws_finish netns-test' EXIT

p=wst-$WS_ID
h1=$p-h1 h2=$p-h2 c1=$p-c1 c2=$p-c2 c3=$p-c3
for n in $h1 $h2 $c1 $c2 $c3; do ns_add "$n"; done
link_ns "$h1" "$h2" ul0 ul0 198.18.0.1/24 198.18.0.2/24

pretty "starting routers (--insecure: this pair tests the plaintext sleeve)"
router_up "$h1" h1 "$WS_TMP/h1.log" --name 02:00:00:00:00:01 --nickname h1 --listen 198.18.0.1:6783 --peer 198.18.0.2 --insecure
router_up "$h2" h2 "$WS_TMP/h2.log" --name 02:00:00:00:00:02 --nickname h2 --listen 198.18.0.2:6783 --peer 198.18.0.1:6783 --insecure

wait_links h1 1
wait_links h2 1
ws_check "bridge and TAP exist on h1" ip -n "$h1" link show weave-tap master weave
ws_check "bridge MTU is 1426 (1500 - sleeve overhead)" bash -c "ip -n $h1 link show weave | grep -q 'mtu 1426'"

ws attach --api "$WS_TMP/h1.sock" "$c1" 10.32.0.1/12 >/dev/null
ws attach --api "$WS_TMP/h1.sock" "$c2" 10.32.0.2/12 >/dev/null
ws attach --api "$WS_TMP/h2.sock" "$c3" 10.32.0.3/12 >/dev/null
ws_check "attach gives the container its address" bash -c "ip -n $c1 -br addr show ethws | grep -q 10.32.0.1/12"
ws_check "attach sets the container MTU" bash -c "ip -n $c3 link show ethws | grep -q 'mtu 1426'"

ws_check "ping c1 -> c3 across hosts" in_ns "$c1" ping -c 3 -i 0.2 -W 2 10.32.0.3
ws_check "ping c3 -> c1 across hosts" in_ns "$c3" ping -c 3 -i 0.2 -W 2 10.32.0.1
ws_check "ping c3 -> c2 across hosts" in_ns "$c3" ping -c 3 -i 0.2 -W 2 10.32.0.2
ws_check "ping c1 -> c2 on one host" in_ns "$c1" ping -c 2 -i 0.2 -W 2 10.32.0.2

mac3=$(ip -n "$c3" -j link show ethws | jq -r '.[0].address')
ws_check "ARP on c1 resolved 10.32.0.3 to c3's MAC $mac3" \
	bash -c "ip -n $c1 neigh show 10.32.0.3 | grep -q 'lladdr $mac3'"

# Broadcast: an ICMP echo to the subnet broadcast must reach c2 (same host)
# and c3 (other host), and both answer.
in_ns "$c2" sysctl -qw net.ipv4.icmp_echo_ignore_broadcasts=0
in_ns "$c3" sysctl -qw net.ipv4.icmp_echo_ignore_broadcasts=0
bcast=$(in_ns "$c1" ping -b -c 4 -i 0.3 -W 2 10.47.255.255 2>&1 || true)
ws_check "broadcast reaches c2 on h1" grep -q 'from 10.32.0.2' <<<"$bcast"
ws_check "broadcast reaches c3 on h2" grep -q 'from 10.32.0.3' <<<"$bcast"

# TCP across the overlay.
in_ns "$c3" iperf3 -s -D -1 -B 10.32.0.3 -p 5201 --pidfile "$WS_TMP/iperf3.pid" >/dev/null
wait_listen "$c3" 5201
iperf=$(in_ns "$c1" iperf3 -c 10.32.0.3 -p 5201 -t 2 -J 2>&1 || true)
bps=$(jq -r '.end.sum_received.bits_per_second // 0' <<<"$iperf" 2>/dev/null || echo 0)
ws_check "iperf3 TCP c1 -> c3 moved data ($(awk "BEGIN{printf \"%.2f\", $bps/1e9}") Gbit/s)" \
	awk "BEGIN{exit !($bps > 0)}"
[ -f "$WS_TMP/iperf3.pid" ] && kill "$(cat "$WS_TMP/iperf3.pid")" 2>/dev/null || true

st=$(ws status --api "$WS_TMP/h1.sock" --json || [ $? -eq 3 ])
ws_check "status: h1's connection to h2 is established" \
	bash -c "jq -e '.connections[] | select(.peer==\"02:00:00:00:00:02\" and .state==\"established\")' <<<'$st' >/dev/null"
ws_check "status: one connection only, though both dialled" bash -c "[ \$(jq '[.connections[] | select(.peer==\"02:00:00:00:00:02\")] | length' <<<'$st') -eq 1 ]"
ws_check "status: three MACs learned on h1 or more" bash -c "[ \$(jq '.switch.entries' <<<'$st') -ge 3 ]"
ws_check "Prometheus metrics on the API socket count frames per link" bash -c \
	"curl -sf --unix-socket $WS_TMP/h1.sock http://x/metrics | grep -E '^weave_switch_link_tx_frames_total\\{peer=\"02:00:00:00:00:02\",transport=\"sleeve\"\\} [1-9]'"
ws_check "Prometheus metrics count peers and established connections" bash -c \
	"m=\$(curl -sf --unix-socket $WS_TMP/h1.sock http://x/metrics); grep -q '^weave_switch_peers{reachable=\"true\"} 2' <<<\"\$m\" && grep -q '^weave_switch_connections{state=\"established\"} 1' <<<\"\$m\""
ws_check "status peers prints the topology" bash -c "'$WS_BIN' status peers --api $WS_TMP/h1.sock | grep -q '02:00:00:00:00:02.*h2.*true'"
ws_check "status connections prints a table" bash -c "'$WS_BIN' status connections --api $WS_TMP/h1.sock | grep -q ' h2 .*established .*sleeve .*user '"

# Bad input gets a clear one-line error and a non-zero exit.
expect_error() { # expect_error PATTERN CMD...
	local pat=$1 out rc; shift
	set +e; out=$("$@" 2>&1); rc=$?; set -e
	[ $rc -ne 0 ] && grep -q -- "$pat" <<<"$out" && [ "$(wc -l <<<"$out")" -le 2 ]
}
ws_check "bad --name is refused" expect_error "invalid peer name" ws up --name zz
ws_check "an unknown flag is refused" expect_error "flag provided but not defined" ws up --bogus
ws_check "up without root is refused" expect_error "needs root" setpriv --reuid=65534 --regid=65534 --clear-groups "$WS_BIN" up --data-dir "$WS_TMP/nobody"
ws_check "a busy port is refused" expect_error "address already in use" \
	ip netns exec "$h1" "$WS_BIN" up --no-docker --no-dns --api "$WS_TMP/busy.sock" --data-dir "$WS_TMP/busy" --bridge wsbusy --listen 198.18.0.1:6783
ws_check "the busy router left no bridge behind" bash -c "! ip -n $h1 link show wsbusy 2>/dev/null"
ws_check "attach to a missing namespace is refused" expect_error "not found" ws attach --api "$WS_TMP/h1.sock" "$p-nope" 10.32.0.9/12
ws_check "attach of a network address is refused" expect_error "network address" ws attach --api "$WS_TMP/h1.sock" "$c2" 10.32.0.0/12
ws_check "a bad CIDR is refused" expect_error "prefix length" ws attach --api "$WS_TMP/h1.sock" "$c2" 10.32.0.2
ws_check "no router at the socket is reported" expect_error "no router is running" ws status --api "$WS_TMP/none.sock"
ws_check "insecure mesh: status says so (insecure, no link encrypted)" bash -c \
	"'$WS_BIN' status --api $WS_TMP/h1.sock --json | jq -e '.insecure and .secret == \"none (insecure)\" and ([.connections[] | .encrypted] | any | not)' >/dev/null && '$WS_BIN' status --api $WS_TMP/h1.sock | grep -q 'Security: *INSECURE'"
ws_check "insecure mesh: the start-up log warns" grep -q 'level=WARN msg="INSECURE' "$WS_TMP/h1.log"
ws_check "insecure mesh: no join token" expect_error "without a secret" ws join-token --api "$WS_TMP/h1.sock"

# An encrypted pair beside the plain one (its own bridge and port), and a
# router with the wrong password that must be refused.
printf 's3cret-mesh\n' >"$WS_TMP/pw"
printf 'wrong\n' >"$WS_TMP/pw-wrong"
router_up "$h1" e1 "$WS_TMP/e1.log" --name 02:00:00:00:01:01 --bridge wsenc --listen 198.18.0.1:6790 --password-file "$WS_TMP/pw"
router_up "$h2" e2 "$WS_TMP/e2.log" --name 02:00:00:00:01:02 --bridge wsenc --listen 198.18.0.2:6790 --password-file "$WS_TMP/pw" --peer 198.18.0.1:6790
router_up "$h2" e3 "$WS_TMP/e3.log" --name 02:00:00:00:01:03 --bridge wsbad --listen 198.18.0.2:6791 --password-file "$WS_TMP/pw-wrong" --peer 198.18.0.1:6790
wait_links e1 1
for n in e1 e2; do ns_add "$p-$n"; done
ws attach --api "$WS_TMP/e1.sock" "$p-e1" 10.40.0.1/16 >/dev/null
ws attach --api "$WS_TMP/e2.sock" "$p-e2" 10.40.0.2/16 >/dev/null
ws_check "encrypted mesh: ping across" in_ns "$p-e1" ping -c 3 -i 0.2 -W 2 10.40.0.2
ws_check "encrypted mesh: the password wins, and the log says so" bash -c \
	"'$WS_BIN' status --api $WS_TMP/e1.sock --json | jq -e '(.insecure | not) and .secret == \"password\"' >/dev/null && grep -q 'mesh secret: the password given' $WS_TMP/e1.log"
# Datagrams that crossed while the two ends were installing their keys may
# have been dropped (counted); from here on none may be.
sleeve_drops='[.transports[] | select(.name=="sleeve") | .drops | to_entries[] | select(.key | startswith("reassembly_") | not) | .value] | add'
drops_before=$({ ws status --api "$WS_TMP/e1.sock" --json || true; } | jq "$sleeve_drops")
ws_check "encrypted mesh: the overlay MTU leaves room for the AEAD (1402)" bash -c "ip -n $h1 link show wsenc | grep -q 'mtu 1402'"
in_ns "$p-e2" iperf3 -s -D -1 -B 10.40.0.2 -p 5202 --pidfile "$WS_TMP/iperf3e.pid" >/dev/null
wait_listen "$p-e2" 5202
ebps=$(in_ns "$p-e1" iperf3 -c 10.40.0.2 -p 5202 -t 2 -J 2>/dev/null | jq -r '.end.sum_received.bits_per_second // 0' || echo 0)
ws_check "encrypted mesh: iperf3 TCP across ($(awk "BEGIN{printf \"%.2f\", $ebps/1e9}") Gbit/s)" awk "BEGIN{exit !($ebps > 0)}"
est=$(ws status --api "$WS_TMP/e1.sock" --json || [ $? -eq 3 ])
ws_check "encrypted mesh: status says the link is encrypted" \
	bash -c "jq -e '.encryption | startswith(\"encrypted\")' <<<'$est' >/dev/null && jq -e '.connections[] | select(.peer==\"02:00:00:00:01:02\" and .encrypted and .state==\"established\")' <<<'$est' >/dev/null"
ws_check "encrypted mesh: no datagram dropped once keyed (no replay, auth or key failure under iperf3)" \
	bash -c "[ \$(jq '$sleeve_drops' <<<'$est') -eq $drops_before ] || { echo 'drops before: $drops_before, now by reason:'; jq -c '.transports[] | select(.name==\"sleeve\") | .drops' <<<'$est'; exit 1; }"
ws_check "wrong password: refused, with the reason in the dialer's status" bash -c \
	"for _ in \$(seq 50); do '$WS_BIN' status connections --api $WS_TMP/e3.sock | grep -q 'wrong password' && exit 0; sleep 0.2; done; exit 1"
ws_check "wrong password: refused, with the reason in the listener's status" bash -c \
	"'$WS_BIN' status connections --api $WS_TMP/e1.sock | grep -q 'refused.*wrong password'"
ws_check "wrong password: no connection between them" bash -c \
	"! '$WS_BIN' status --api $WS_TMP/e1.sock --json | jq -e '.connections[] | select(.peer==\"02:00:00:00:01:03\")' >/dev/null"
router_down e3
router_down e2
router_down e1

# Path MTU: the underlay narrows mid-run (1500 -> 1280). Full-size frames
# with DF still cross, the sleeve learns the narrower path, and TCP keeps
# flowing at speed instead of falling back to kernel fragmentation.
ip -n "$h1" link set ul0 mtu 1280
ip -n "$h2" link set ul0 mtu 1280
ws_check "after the underlay MTU drops to 1280, a 1300-byte DF ping still crosses" \
	in_ns "$c1" ping -c 3 -i 0.2 -W 2 -M do -s 1300 10.32.0.3
in_ns "$c3" iperf3 -s -D -1 -B 10.32.0.3 -p 5203 --pidfile "$WS_TMP/iperf3m.pid" >/dev/null
wait_listen "$c3" 5203
mbps=$(in_ns "$c1" iperf3 -c 10.32.0.3 -p 5203 -t 2 -J 2>/dev/null | jq -r '.end.sum_received.bits_per_second // 0' || echo 0)
ws_check "after the MTU drop, TCP still flows ($(awk "BEGIN{printf \"%.2f\", $mbps/1e9}") Gbit/s)" awk "BEGIN{exit !($mbps > 0)}"
ws_check "the sleeve learned the path MTU 1280 to h2" bash -c \
	"'$WS_BIN' status --api $WS_TMP/h1.sock --json | jq -e '.transports[] | select(.name==\"sleeve\") | .path_mtu[\"198.18.0.2\"] == 1280' >/dev/null"
ip -n "$h1" link set ul0 mtu 1500
ip -n "$h2" link set ul0 mtu 1500

# Detach.
ws detach --api "$WS_TMP/h1.sock" "$c2"
ws_check "detach removes the container's interface" bash -c "! ip -n $c2 link show ethws 2>/dev/null"
ws_check "c1 no longer reaches detached c2" bash -c "! ip netns exec $c1 ping -c 1 -W 1 10.32.0.2 >/dev/null"

# Teardown leaves nothing behind.
router_down h1
router_down h2
ws_check "h1 teardown removed bridge, TAP and veths" bash -c "[ -z \"\$(ip -n $h1 -br link show | grep -v -e '^lo ' -e '^ul0@')\" ]"
ws_check "h2 teardown removed bridge, TAP and veths" bash -c "[ -z \"\$(ip -n $h2 -br link show | grep -v -e '^lo ' -e '^ul0@')\" ]"
ws_check "containers lost their overlay interface" bash -c "! ip -n $c1 link show ethws 2>/dev/null && ! ip -n $c3 link show ethws 2>/dev/null"
ws_check "API sockets removed" bash -c "[ ! -e $WS_TMP/h1.sock ] && [ ! -e $WS_TMP/h2.sock ]"
[ $WS_FAILED -eq 0 ]
