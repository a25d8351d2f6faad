#!/usr/bin/env bash
# Three sites joined through an "internet", two of them behind NAT:
#
#     cA ─ A (192.168.1.2) ─┐
#                           ├ natA ─┐                 ┌─ natC ─ C (192.168.2.2) ─ cC
#     cD ─ D (192.168.1.3) ─┘  masquerade   internet   masquerade
#                                   └── 203.0.113.0/24 ──┘
#                                             │
#                                   B (203.0.113.2, public) ─ cB
#
# Each NAT router masquerades on its outside interface and has a stateful
# forward filter (established/related accepted, new inbound dropped, to
# the router itself too), with
# the conntrack UDP timeouts of its namespace lowered to $UDP_TIMEOUT s so
# that idle mappings expire within the test. A and C dial B with --peer;
# the routers share a password (one mode runs --insecure); B is a relay
# (--relay). Peer names sort A < B < C < D, so A is the smaller name of
# its link to B and C the larger. D sits on A's LAN, behind the same NAT.
#
# For each transport (MODES, default: sleeve wireguard quic insecure, the
# last being the sleeve without a secret), it checks: A-B and C-B links
# come up and the containers ping both ways (the time to the first ping is
# printed); A-C pings through B; after 2x the UDP timeout of silence every
# pair still pings; iperf3 A->B; after both NATs forget their UDP
# mappings (and their masquerades then map to new ports) B's
# links to A and C are established again at the new ports and ping within
# 10 s, and within 15 s after A's NAT flushes its whole table, TCP too
# (the times are printed); B's status shows the endpoint it uses for A and
# each link as direct; A's shows C relayed via B; the dial targets A and C
# learned for each other back off (state backoff, relayed via B); A and D
# connect directly at their LAN addresses (candidates exchanged through
# B); A and C punch a direct link, and after C's NAT drops everything
# from A's for a while (the punched link goes silent) they are relayed
# through B at once and punched again soon after the block ends.
#
#   scripts/netns-nat-test.sh                 # every mode
#   MODES="sleeve quic" scripts/netns-nat-test.sh
#   NAT_LOGS=/tmp/nat scripts/netns-nat-test.sh   # keep the routers' logs
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-nat-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"
command -v conntrack >/dev/null || fail "no conntrack (scripts/deps.sh installs it)"

trap 'ws_finish netns-nat-test' EXIT

MODES=${MODES:-sleeve wireguard quic insecure}
UDP_TIMEOUT=${UDP_TIMEOUT:-5}

p=wsnat-$WS_ID
ns_add "$p-inet"
ip -n "$p-inet" link add inet type bridge
ip -n "$p-inet" link set inet up

# wan_port NS IF ADDR PORT: IF in NS, with ADDR, on the internet bridge
# (its port there is PORT).
wan_port() {
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$p-inet"
	ip -n "$p-inet" link set "$4" master inet up
	ip -n "$1" addr add "$3" dev "$2"
	ip -n "$1" link set "$2" up
}

ns_add "$p-b"
wan_port "$p-b" eth0 203.0.113.2/24 wb

# lan_host NATNS NS PORT ADDR GW: host NS on NATNS's LAN bridge (its
# port there is PORT), with ADDR and default route GW.
lan_host() {
	ip link add eth0 netns "$2" type veth peer name "$3" netns "$1"
	ip -n "$1" link set "$3" master lan up
	ip -n "$2" addr add "$4" dev eth0
	ip -n "$2" link set eth0 up
	ip -n "$2" route add default via "$5"
}

# nat_site X OCTET: NAT router natX (203.0.113.OCTET outside, 192.168.N.1
# inside) and host X (192.168.N.2) behind it.
nat_site() {
	local x=$1 pub=$2 n=$3
	ns_add "$p-nat$x"
	ns_add "$p-$x"
	wan_port "$p-nat$x" wan "203.0.113.$pub/24" "w$x"
	ip -n "$p-nat$x" link add lan type bridge
	ip -n "$p-nat$x" addr add "192.168.$n.1/24" dev lan
	ip -n "$p-nat$x" link set lan up
	lan_host "$p-nat$x" "$p-$x" "l$x" "192.168.$n.2/24" "192.168.$n.1"
	in_ns "$p-nat$x" sysctl -qw net.ipv4.ip_forward=1
	in_ns "$p-nat$x" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$UDP_TIMEOUT" 2>/dev/null || true
	in_ns "$p-nat$x" nft -f - <<-EOF
		table ip nat {
			chain post { type nat hook postrouting priority srcnat; oifname "wan" masquerade; }
		}
		table ip filter {
			chain forward {
				type filter hook forward priority filter; policy drop;
				ct state established,related accept
				iifname "lan" oifname "wan" accept
				iifname "lan" oifname "lan" accept
			}
			# Nothing unsolicited reaches the router itself either: a
			# datagram or SYN that no mapping answers is dropped (as
			# most NATs do), so it neither resets a punching SYN nor
			# leaves a conntrack entry that takes a port.
			chain input {
				type filter hook input priority filter; policy accept;
				iifname "wan" ct state new drop
			}
		}
	EOF
	# The timeouts are conntrack's, per namespace; the module is loaded
	# once the first rule uses it.
	in_ns "$p-nat$x" sysctl -qw net.netfilter.nf_conntrack_udp_timeout="$UDP_TIMEOUT"
	in_ns "$p-nat$x" sysctl -qw net.netfilter.nf_conntrack_udp_timeout_stream="$UDP_TIMEOUT"
}
nat_site a 10 1
nat_site c 20 2
ns_add "$p-d"
lan_host "$p-nata" "$p-d" ld 192.168.1.3/24 192.168.1.1
for x in a b c d; do ns_add "$p-c$x"; done

ws_check "the NAT routers' conntrack UDP timeouts are lowered in their namespaces" bash -c \
	"[ \$(ip netns exec $p-nata sysctl -n net.netfilter.nf_conntrack_udp_timeout_stream) = $UDP_TIMEOUT ] && [ \$(sysctl -n net.netfilter.nf_conntrack_udp_timeout_stream) != $UDP_TIMEOUT -o $UDP_TIMEOUT = 120 ]"
ws_check "the internet cannot reach A or C (new inbound dropped)" bash -c \
	"! ip netns exec $p-b ping -c 1 -W 1 192.168.1.2 && ! ip netns exec $p-b timeout 2 bash -c \"</dev/tcp/203.0.113.10/6783\""

printf 'nat-test-secret\n' >"$WS_TMP/pw"
declare -A NAME=([a]=02:00:00:00:00:01 [b]=02:00:00:00:00:02 [c]=02:00:00:00:00:03 [d]=02:00:00:00:00:04)
declare -A CIP=([a]=10.32.0.1 [b]=10.32.0.2 [c]=10.32.0.3 [d]=10.32.0.4)

now() { date +%s.%N; }
since() { awk "BEGIN{printf \"%.1f\", $(now) - $1}"; }
# ping_until SECS SRC DST: true once container SRC pings DST.
ping_until() {
	local end=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$end" ]; do
		ip netns exec "$p-c$2" ping -c 1 -W 1 "${CIP[$3]}" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}
pings() { # pings SRC DST: three pings, all answered
	ip netns exec "$p-c$1" ping -c 3 -i 0.2 -W 2 "${CIP[$2]}"
}
st() { "$WS_BIN" status --api "$WS_TMP/$1.sock" --json; }
conn_of() { # conn_of ROUTER PEER: its connection to PEER, as JSON
	st "$1" | jq -c ".connections[] | select(.peer==\"${NAME[$2]}\")"
}
# conn_at ROUTER PEER T0: seconds from T0 until ROUTER's connection to
# PEER was made (its since).
conn_at() {
	local at
	at=$(conn_of "$1" "$2" | jq -r '.since // empty')
	[ -n "$at" ] || { echo never; return; }
	awk "BEGIN{printf \"%.1f\", $(date -d "$at" +%s.%N) - $3}"
}
endpoint_moves() {
	curl -sf --unix-socket "$WS_TMP/$1.sock" http://x/metrics | awk '/^weave_switch_endpoint_moves_total / {print $2}'
}
# back_after ROUTER PEER EP0 T0: seconds from T0 until ROUTER's link to
# PEER is established at another endpoint than EP0 and PEER's container
# pings ROUTER's, for good: it must still be so 3 s later (a control
# connection the NAT cut may take that long to be reset), else the wait
# goes on; "never" after 25 s. Prints "SECS ENDPOINT".
back_after() {
	local end=$(($(date +%s) + 25)) c ep at="" ok
	while [ "$(date +%s)" -lt "$end" ]; do
		c=$(conn_of "$1" "$2")
		ep=$(jq -r '.endpoint // ""' <<<"$c" 2>/dev/null || true)
		ok=no
		if [ "$(jq -r .state <<<"$c" 2>/dev/null)" = established ] && [ -n "$ep" ] && [ "$ep" != "$3" ] &&
			ip netns exec "$p-c$2" ping -c 1 -W 1 "${CIP[b]}" >/dev/null 2>&1; then
			ok=yes
		fi
		if [ $ok = yes ] && [ -z "$at" ]; then
			at=$(now)
		elif [ $ok = no ]; then
			at=""
		fi
		if [ -n "$at" ] && awk "BEGIN{exit !($(now) - $at >= 3)}"; then
			echo "$(awk "BEGIN{printf \"%.1f\", $at - $4}") $ep"
			return
		fi
		sleep 0.2
	done
	echo "never $ep"
}
iperf_ab() {
	ip netns exec "$p-cb" iperf3 -s -D -1 -B "${CIP[b]}" -p 5301 --pidfile "$WS_TMP/iperf.pid" >/dev/null
	wait_listen "$p-cb" 5301
	local bps
	bps=$(ip netns exec "$p-ca" iperf3 -c "${CIP[b]}" -p 5301 -t 2 -J 2>/dev/null | jq -r '.end.sum_received.bits_per_second // 0')
	echo "$(awk "BEGIN{printf \"%.2f\", $bps/1e9}") Gbit/s"
	awk "BEGIN{exit !($bps > 0)}"
}

# iperf_ac PORT: iperf3 from A's container to C's, reported with the
# path A's routes take to C (relayed via B, or direct).
iperf_ac() {
	local how=direct
	if "$WS_BIN" status --api "$WS_TMP/a$mode.sock" --json | jq -e ".peers[] | select(.name==\"${NAME[c]}\") | .next_hop==\"${NAME[b]}\"" >/dev/null; then
		how="relayed via B"
	fi
	ip netns exec "$p-cc" iperf3 -s -D -1 -B "${CIP[c]}" -p "$1" --pidfile "$WS_TMP/iperf$1.pid" >/dev/null
	wait_listen "$p-cc" "$1"
	local bps
	bps=$(ip netns exec "$p-ca" iperf3 -c "${CIP[c]}" -p "$1" -t 2 -J 2>/dev/null | jq -r '.end.sum_received.bits_per_second // 0')
	REPORT[$mode]+=", iperf3 A->C $how $(awk "BEGIN{printf \"%.2f\", $bps/1e9}") Gbit/s"
}

declare -A REPORT
run_mode() {
	local mode=$1 tr=$1 sec=(--password-file "$WS_TMP/pw") x t0
	if [ "$mode" = insecure ]; then tr=sleeve sec=(--insecure); fi
	# These NATs forget an idle UDP mapping after $UDP_TIMEOUT s: the
	# keepalive goes under that, as it must behind such a NAT.
	local common=(--listen 0.0.0.0:6783 --transport "$tr" --keepalive 2s "${sec[@]}" ${NAT_UP_FLAGS:-})
	pretty "mode $mode"
	router_up "$p-b" "b$mode" "$WS_TMP/b-$mode.log" --name "${NAME[b]}" "${common[@]}" --relay
	t0=$(now)
	local tstart=$t0
	router_up "$p-a" "a$mode" "$WS_TMP/a-$mode.log" --name "${NAME[a]}" "${common[@]}" --peer 203.0.113.2
	router_up "$p-c" "c$mode" "$WS_TMP/c-$mode.log" --name "${NAME[c]}" "${common[@]}" --peer 203.0.113.2
	# D shares A's NAT: other ports than A's, so that the NAT can keep
	# both routers' ports when each punches to the same peer.
	router_up "$p-d" "d$mode" "$WS_TMP/d-$mode.log" --name "${NAME[d]}" "${common[@]}" --peer 203.0.113.2 \
		--listen 0.0.0.0:7783 --wireguard-listen 0.0.0.0:52820 --quic-listen 0.0.0.0:7784
	for x in a b c d; do
		# The same addresses in every mode: detach what the previous one left.
		ip -n "$p-c$x" link del eth0 2>/dev/null || true
		ws attach --api "$WS_TMP/$x$mode.sock" "$p-c$x" "${CIP[$x]}/12" >/dev/null
	done
	local ab="" cb=""
	ping_until 30 a b && ab=$(since "$t0")
	ping_until 30 c b && cb=$(since "$t0")
	REPORT[$mode]="first ping A-B ${ab:-never} s, C-B ${cb:-never} s"
	ws_check "$mode: A (NAT, smaller name) pings B within 30 s (${ab:-never} s)" test -n "$ab"
	ws_check "$mode: C (NAT, larger name) pings B within 30 s (${cb:-never} s)" test -n "$cb"
	ws_check "$mode: B pings A and C" bash -c "$(declare -f pings); p=$p; declare -A CIP=([a]=${CIP[a]} [b]=${CIP[b]} [c]=${CIP[c]}); pings b a && pings b c"
	# Through B, or punched already: the relayed path is checked at the
	# end, once the NATs map every destination to a random port.
	ws_check "$mode: A and C ping each other" bash -c "$(declare -f ping_until); p=$p; declare -A CIP=([a]=${CIP[a]} [c]=${CIP[c]}); ping_until 15 a c && ping_until 15 c a"
	# A and D, behind one NAT, learn each other's LAN address from the
	# candidates their calls through B carry, and link directly there.
	local ad=""
	direct_ad() { # both ends established, direct, at the other's LAN address, and A's routes go direct
		"$WS_BIN" status --api "$WS_TMP/a$mode.sock" --json | jq -e "(.connections[] | select(.peer==\"${NAME[d]}\" and .state==\"established\" and .path==\"direct\" and (.endpoint // \"\" | startswith(\"192.168.1.3:\")))) and (.peers[] | select(.name==\"${NAME[d]}\") | .next_hop==\"${NAME[d]}\")" >/dev/null 2>&1 &&
			"$WS_BIN" status --api "$WS_TMP/d$mode.sock" --json | jq -e ".connections[] | select(.peer==\"${NAME[a]}\" and .state==\"established\" and .path==\"direct\" and (.endpoint // \"\" | startswith(\"192.168.1.2:\")))" >/dev/null 2>&1
	}
	for _ in $(seq 150); do
		if direct_ad; then
			ad=$(since "$tstart")
			break
		fi
		sleep 0.2
	done
	[ -n "$ad" ] && ad=$(conn_at "a$mode" d "$tstart")
	REPORT[$mode]+=", A-D connected at LAN addresses ${ad:-never} s after start"
	ws_check "$mode: A and D (behind one NAT) link directly at their LAN addresses, both say direct, A's routes to D direct (${ad:-never} s)" test -n "$ad"
	ws_check "$mode: D and A ping each other, D pings B" bash -c "$(declare -f pings); p=$p; declare -A CIP=([a]=${CIP[a]} [b]=${CIP[b]} [d]=${CIP[d]}); pings d a && pings a d && pings d b"
	ws_check "$mode: every link of B is established" bash -c \
		"'$WS_BIN' status --api $WS_TMP/b$mode.sock --json | jq -e '[.connections[] | select(.peer) | .state + \"/\" + .path] == [\"established/direct\",\"established/direct\",\"established/direct\"]'"
	ws_check "$mode: B shows the endpoint it uses for A (A's NAT, 203.0.113.10)" bash -c \
		"'$WS_BIN' status --api $WS_TMP/b$mode.sock --json | jq -e '.connections[] | select(.peer==\"${NAME[a]}\") | .endpoint | startswith(\"203.0.113.10:\")'"
	sleep $((2 * UDP_TIMEOUT + 1))
	ws_check "$mode: after $((2 * UDP_TIMEOUT + 1)) s of silence A-B, C-B and A-C still ping" bash -c \
		"$(declare -f pings); p=$p; declare -A CIP=([a]=${CIP[a]} [b]=${CIP[b]} [c]=${CIP[c]}); pings a b && pings b c && pings c a"
	ws_check "$mode: iperf3 A -> B" iperf_ab
	REPORT[$mode]+=", iperf3 A->B $(sed -n '$p' "$WS_TMP/check.out")"
	# Both NATs keep a new mapping's port: A and C punch a connection
	# to each other (simultaneous open, started at once by both when
	# one's call through B is answered, once each backed off dialing the
	# other), and the link is direct.
	t0=$(now)
	local punched=""
	punched_to() { # punched_to ROUTER PEER: ROUTER's link to PEER is punched and established
		"$WS_BIN" status --api "$WS_TMP/$1$mode.sock" --json | jq -e ".connections[] | select(.peer==\"${NAME[$2]}\" and .state==\"established\" and .path==\"punched\")" >/dev/null 2>&1
	}
	for _ in $(seq 150); do
		if punched_to a c && punched_to c a; then
			punched=$(since "$t0")
			break
		fi
		sleep 0.2
	done
	[ -n "$punched" ] && punched=$(conn_at "a$mode" c "$tstart")
	REPORT[$mode]+=", A-C punched ${punched:-never} s after start"
	ws_check "$mode: A and C punch a direct link through their NATs, both show it (${punched:-never} s)" test -n "$punched"
	direct_ac() {
		local i
		for i in $(seq 50); do
			"$WS_BIN" status --api "$WS_TMP/a$mode.sock" --json | jq -e ".peers[] | select(.name==\"${NAME[c]}\") | .next_hop==\"${NAME[c]}\"" && return 0
			sleep 0.2
		done
		return 1
	}
	ws_check "$mode: A's routes reach C directly now (within 10 s)" direct_ac
	iperf_ac 5303
	# C's NAT drops everything from A's NAT for a while: the punched
	# link goes silent, A and C drop it, the routes go through B, and
	# they call each other through B to punch again, which gets through
	# once the block is lifted.
	in_ns "$p-natc" nft -f - <<-EOF
		table ip block {
			chain blockfwd { type filter hook forward priority -10; ip saddr 203.0.113.10 drop; }
			chain blockin { type filter hook input priority -10; ip saddr 203.0.113.10 drop; }
		}
	EOF
	t0=$(now)
	local relayed="" repunched=""
	via_b() {
		"$WS_BIN" status --api "$WS_TMP/a$mode.sock" --json | jq -e ".peers[] | select(.name==\"${NAME[c]}\") | .next_hop==\"${NAME[b]}\"" >/dev/null 2>&1
	}
	for _ in $(seq 100); do
		if via_b; then
			relayed=$(since "$t0")
			break
		fi
		sleep 0.2
	done
	ws_check "$mode: with the punched path blocked, A's routes to C go through B within 10 s (${relayed:-never} s)" test -n "$relayed"
	ws_check "$mode: and A and C ping each other through B" \
		bash -c "$(declare -f ping_until); p=$p; declare -A CIP=([a]=${CIP[a]} [c]=${CIP[c]}); ping_until 10 a c && ping_until 10 c a"
	in_ns "$p-natc" nft delete table ip block
	t0=$(now)
	for _ in $(seq 150); do
		if punched_to a c && punched_to c a && ! via_b; then
			repunched=$(since "$t0")
			break
		fi
		sleep 0.2
	done
	REPORT[$mode]+=", punched path blocked: relayed after ${relayed:-never} s, punched again ${repunched:-never} s after the block"
	ws_check "$mode: A and C punch again within 10 s of the block's end, routes direct (${repunched:-never} s)" \
		awk "BEGIN{exit !(\"${repunched:-never}\" != \"never\" && ${repunched:-99} <= 10)}"
	ws_check "$mode: A pings C after the new punch" bash -c "$(declare -f pings); p=$p; declare -A CIP=([a]=${CIP[a]} [c]=${CIP[c]}); pings a c"
	# Both NATs forget their UDP mappings, as when they expire (the TCP
	# control connections keep theirs); their masquerades then pick
	# random ports, so A's and C's links come back from new ports.
	local ep0a ep0c x backa backc
	ep0a=$(conn_of "b$mode" a | jq -r .endpoint)
	ep0c=$(conn_of "b$mode" c | jq -r .endpoint)
	local moves0
	moves0=$(endpoint_moves "b$mode")
	for x in a c; do
		in_ns "$p-nat$x" nft flush chain ip nat post
		in_ns "$p-nat$x" nft add rule ip nat post oifname wan masquerade fully-random
		in_ns "$p-nat$x" conntrack -D -p udp >/dev/null 2>&1
	done
	t0=$(now)
	local waiter
	back_after "b$mode" a "$ep0a" "$t0" >"$WS_TMP/back.a" &
	waiter=$!
	back_after "b$mode" c "$ep0c" "$t0" >"$WS_TMP/back.c"
	wait "$waiter" || true
	backa=$(cat "$WS_TMP/back.a") backc=$(cat "$WS_TMP/back.c")
	REPORT[$mode]+=", back after the NATs' UDP mappings went: A-B ${backa%% *} s, C-B ${backc%% *} s"
	ws_check "$mode: after A's NAT forgot its UDP mappings, A pings B within 10 s, B's link to A established at A's new port ($ep0a -> ${backa#* }, ${backa%% *} s)" \
		awk "BEGIN{exit !(\"${backa%% *}\" != \"never\" && ${backa%% *} <= 10)}"
	ws_check "$mode: the same for C, the larger name ($ep0c -> ${backc#* }, ${backc%% *} s)" \
		awk "BEGIN{exit !(\"${backc%% *}\" != \"never\" && ${backc%% *} <= 10)}"
	ws_check "$mode: and B pings A and C" bash -c "$(declare -f pings); p=$p; declare -A CIP=([a]=${CIP[a]} [b]=${CIP[b]} [c]=${CIP[c]}); pings b a && pings b c"
	# Then A's NAT forgets everything, the control connection's mapping
	# too: B resets A's next TCP segment, from a new port, and A dials
	# again. That segment can be a quiet connection's next summary (6 s),
	# then the redial (1 s ± 50 %), the handshake, and on WireGuard a new
	# session, whose first handshake B may wait for up to 1 s before
	# starting one: the bound is 15 s.
	ep0a=${backa#* }
	in_ns "$p-nata" conntrack -F >/dev/null 2>&1
	t0=$(now)
	backa=$(back_after "b$mode" a "$ep0a" "$t0")
	REPORT[$mode]+=", after conntrack -F: A-B ${backa%% *} s"
	ws_check "$mode: after A's NAT flushed its conntrack table (TCP too), B's link to A is back within 15 s ($ep0a -> ${backa#* }, ${backa%% *} s)" \
		awk "BEGIN{exit !(\"${backa%% *}\" != \"never\" && ${backa%% *} <= 15)}"
	ws_check "$mode: A and C still reach each other (their NATs now map every destination to a random port: relayed through B unless the punched link survived)" \
		bash -c "$(declare -f ping_until); p=$p; declare -A CIP=([a]=${CIP[a]} [c]=${CIP[c]}); ping_until 30 a c && ping_until 30 c a"
	# The punched link cannot survive random ports (its data path goes
	# silent, and it is dropped), nor be punched again: A and C are
	# relayed through B, and A's dial target for C's NAT address backs
	# off.
	relayed_ac() {
		"$WS_BIN" status --api "$WS_TMP/a$mode.sock" --json | jq -e "(.peers[] | select(.name==\"${NAME[c]}\") | .reachable and .next_hop==\"${NAME[b]}\") and (.peers[] | select(.name==\"${NAME[b]}\") | .relay)" >/dev/null
	}
	backoff_ac() {
		"$WS_BIN" status --api "$WS_TMP/a$mode.sock" --json | jq -e "[.connections[] | select(.address | startswith(\"203.0.113.20:\")) | select(.state==\"backoff\" and (.reason | test(\"NAT\")) and .path==\"relayed via ${NAME[b]}\")] | length == 1" >/dev/null
	}
	until_ok() { # until_ok SECS CMD...: true once CMD is
		local end=$(($(date +%s) + $1))
		shift
		while [ "$(date +%s)" -lt "$end" ]; do
			"$@" && return 0
			sleep 0.5
		done
		return 1
	}
	ws_check "$mode: A's status: C reachable, relayed via B, which is marked relay (within 20 s)" until_ok 20 relayed_ac
	iperf_ac 5302
	ws_check "$mode: A backs off dialing C's NAT address (status: backoff, why, relayed via B; within 20 s)" until_ok 20 backoff_ac
	if [ "$tr" = sleeve ]; then
		ws_check "$mode: B's router counted the endpoint moves ($moves0 -> $(endpoint_moves "b$mode"))" \
			test "$(endpoint_moves "b$mode")" -ge $((moves0 + 2))
	fi
	for x in a c; do
		in_ns "$p-nat$x" nft flush chain ip nat post
		in_ns "$p-nat$x" nft add rule ip nat post oifname wan masquerade
	done
	if [ -n "${NAT_LOGS:-}" ]; then mkdir -p "$NAT_LOGS" && cp "$WS_TMP"/*-"$mode".log "$NAT_LOGS"/; fi
	for x in d c a b; do router_down "$x$mode"; done
	for x in a c; do in_ns "$p-nat$x" conntrack -F >/dev/null 2>&1 || true; done
}

for m in $MODES; do run_mode "$m"; done
for m in $MODES; do echo "netns-nat-test: $m: ${REPORT[$m]}"; done
[ $WS_FAILED -eq 0 ]
