#!/usr/bin/env bash
# A hostile underlay: an attacker namespace on the routers' underlay, which
# floods every frame to every port (so the attacker sniffs all of them),
# tries what such a host can against two routers with containers, once with
# a secret (the default: h2 and h3 join with --join) and once --insecure
# (with the vxlan fast path, so that UDP 6785 is open):
#
#   c1                    c2
#    |                     |
#   [h1] ------ [ul: bridge, learning off] ------ [h2]
#                 |            |
#               [att]         [h3] (joins during the handshake flood)
#
# The attacker (cmd/ws-hostile) sends forged sleeve datagrams naming h1,
# from its own address and with h1's address forged, sealed garbage,
# replays of captured datagrams, vxlan frames to UDP 6785, bogus offload
# descriptors, oversized, truncated and short datagrams, floods TCP 6783
# with idle connections from several addresses while h3 joins, and makes
# control handshakes to h2: without the secret (refused), and insecure a
# claim of h1's name, h1's entry with maximum stamps and a message of
# 10,000 fake peers. Asserts:
# no forged or replayed frame reaches c1 or c2 (nft counters in the
# containers), each attack moves the drop counter for its reason, h3
# becomes established during the flood, the claim is refused and the
# stamped and fake entries dropped with h2's link to h1 kept, and peak RSS,
# goroutines and dial targets stay bounded. Prints a table of attacks and
# results at the end.
# MODES="secret insecure" and FLOOD=10s (the flood's length) by default.
# Needs root; names are unique per run and everything is removed on exit,
# even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-hostile-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"
command -v nft >/dev/null || fail "nft missing (scripts/deps.sh installs nftables)"

trap 'ws_finish netns-hostile-test' EXIT

ATT=bin/ws-hostile
"${GO:-go}" build -o "$ATT" ./cmd/ws-hostile || fail "building cmd/ws-hostile"

n1=02:00:00:00:0d:01 n2=02:00:00:00:0d:02 n3=02:00:00:00:0d:03
fmac=02:66:66:66:66:66 fip=10.66.66.66
a1=198.18.0.1 a2=198.18.0.2 a3=198.18.0.3 att=198.18.0.66
extra=(198.18.0.67 198.18.0.68 198.18.0.69 198.18.0.70)
ROWS=()
MODES=${MODES:-secret insecure}
FLOOD=${FLOOD:-10s}

row() { ROWS+=("$(printf '| %s | %s | %s | %s |' "$@")"); }

# The mode's namespaces: p is the prefix.
mk_underlay() {
	ns_add "$p-ul"
	ip -n "$p-ul" link add br0 type bridge
	ip -n "$p-ul" link set br0 up
	local h
	for h in h1 h2 h3 att; do
		ns_add "$p-$h"
		ip link add "$h" netns "$p-ul" type veth peer name u0 netns "$p-$h"
		ip -n "$p-ul" link set "$h" master br0
		# No learning: every frame goes to every port, the attacker's too.
		ip -n "$p-ul" link set "$h" type bridge_slave learning off
		ip -n "$p-ul" link set "$h" up
		ip -n "$p-$h" link set u0 up
	done
	ip -n "$p-h1" addr add $a1/24 dev u0
	ip -n "$p-h2" addr add $a2/24 dev u0
	ip -n "$p-h3" addr add $a3/24 dev u0
	ip -n "$p-att" addr add $att/24 dev u0
	for a in "${extra[@]}"; do ip -n "$p-att" addr add "$a/24" dev u0; done
	ns_add "$p-c1"
	ns_add "$p-c2"
}

on() { local h=$1; shift; "$WS_BIN" "$@" --api "$WS_TMP/$h.sock"; }
hostile() { in_ns "$p-att" "$ATT" "$@"; }
metrics() { curl -s --unix-socket "$WS_TMP/$1.sock" http://ws/metrics; }
# metric HOST NAME LABELS: the value of one series (0 if absent).
metric() {
	local s=$2
	[ -z "$3" ] || s="$2{$3}"
	metrics "$1" | awk -v s="$s" '$1 == s { v = $2 } END { printf "%d\n", v + 0 }'
}
sleeve_drop() { metric "$1" weave_switch_transport_dropped_total "reason=\"$2\",transport=\"sleeve\""; }
router_drop() { metric "$1" weave_switch_dropped_frames_total "reason=\"$2\""; }
refused() { metrics "$1" | awk '/^weave_switch_handshakes_refused_total/ { s += $2 } END { printf "%d\n", s + 0 }'; }
fence_drops() { on "$1" status fastpath --json | jq -r '.fence_drops // 0'; }
# ctr C NAME: a named nft counter in container C.
ctr() { in_ns "$p-$1" nft -j list counter netdev hostile "$2" | jq -r '.nftables[] | select(.counter) | .counter.packets'; }
forged_seen() { echo $(($(ctr c1 forged) + $(ctr c2 forged))); }
count_in() { # count_in C: counters for the forged MAC/IP and for c1's pings
	in_ns "$p-$1" nft -f - <<-EOF
	table netdev hostile {
		counter forged {}
		counter pings {}
		chain in {
			type filter hook ingress device "ethws" priority 0;
			ether saddr $fmac counter name forged
			ip saddr $fip counter name forged
			ip saddr 10.40.0.1 icmp type echo-request counter name pings
		}
	}
	EOF
}
# moved BEFORE AFTER: the counter went up.
moved() { [ "$2" -gt "$1" ]; }
nothing_forged() { [ "$(forged_seen)" -eq 0 ]; }

# attack MODE DESC HOST COUNTERFN REASON CMD...: run an attack, check that
# nothing forged reached a container and that the counter moved.
attack() {
	local mode=$1 desc=$2 host=$3 fn=$4 reason=$5 before after
	shift 5
	before=$($fn "$host" "$reason")
	hostile "$@" >>"$WS_TMP/att.log" 2>&1 || fail "attacker: $desc"
	for _ in $(seq 30); do
		after=$($fn "$host" "$reason")
		[ "$after" -gt "$before" ] && break
		sleep 0.1
	done
	ws_check "$mode: $desc: nothing reaches c1 or c2" nothing_forged
	ws_check "$mode: $desc: counted ($fn $reason: $before -> $after)" moved "$before" "$after"
	local blocked=no
	nothing_forged && [ "$after" -gt "$before" ] && blocked=yes
	row "$desc" "$mode" "$blocked" "$(label "$fn" "$reason") = $((after - before))"
}
label() {
	case $1 in
	sleeve_drop) echo "\`weave_switch_transport_dropped_total{transport=\"sleeve\",reason=\"$2\"}\`" ;;
	router_drop) echo "\`weave_switch_dropped_frames_total{reason=\"$2\"}\`" ;;
	fence) echo "\`status fastpath\` fence_drops" ;;
	esac
}
fence() { fence_drops "$1"; }

# peak HOST: VmHWM (KiB) of the router.
peak_kib() { local pid; eval "pid=\$PID_$1"; awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status"; }
goroutines() { metric "$1" go_goroutines ""; }

# replay_attack MODE DESC PORT COUNTERFN REASON [-own]: the attacker
# captures the datagrams to PORT while c1 pings c2, then sends every one
# again (from its original source, or with -own from the attacker's). A
# replayed ping would show in c2's ping counter.
replay_attack() {
	local mode=$1 desc=$2 port=$3 fn=$4 reason=$5 before after pbefore pafter rpid blocked=no
	shift 5
	before=$($fn h2 "$reason")
	in_ns "$p-att" "$ATT" replay -iface u0 -port "$port" -for 3s "$@" >>"$WS_TMP/att.log" 2>&1 &
	rpid=$!
	WS_PIDS+=("$rpid")
	sleep 0.3
	in_ns "$p-c1" ping -c 10 -i 0.1 -W 1 10.40.0.2 >/dev/null || true
	sleep 0.3
	pbefore=$(ctr c2 pings)
	wait "$rpid" || fail "attacker: replay (see $WS_TMP/att.log)"
	for _ in $(seq 10); do
		after=$($fn h2 "$reason")
		[ "$after" -gt "$before" ] && break
		sleep 0.1
	done
	sleep 0.2
	pafter=$(ctr c2 pings)
	ws_check "$mode: $desc: no replayed ping reaches c2 ($pbefore -> $pafter)" [ "$pafter" -eq "$pbefore" ]
	ws_check "$mode: $desc: counted ($fn $reason: $before -> $after)" moved "$before" "$after"
	[ "$pafter" -eq "$pbefore" ] && [ "$after" -gt "$before" ] && blocked=yes
	row "$desc" "$mode" "$blocked" "$(label "$fn" "$reason") = $((after - before))"
}

# peer_uid HOST NAME: the UID HOST's topology holds for peer NAME.
peer_uid() { { on "$1" status --json || true; } | jq -r --arg n "$2" '.peers[]? | select(.name==$n) | .uid'; }
# linked HOST NAME: HOST's link to peer NAME is established.
linked() { { on "$1" status --json || true; } | jq -e --arg n "$2" '[.connections[]? | select(.state=="established" and .peer==$n)] | length == 1' >/dev/null; }
# drops_of HOST NAME: the "disconnected" lines for peer NAME in HOST's log.
drops_of() { grep disconnected "$WS_TMP/$1-$mode.log" | grep -c "$2" || true; }
# kept HOST NAME D0 D1 [U0 U1]: HOST's link to NAME is established and was
# not dropped (its disconnects D0 -> D1), and NAME's UID did not change.
kept() { [ "$4" -eq "$3" ] && [ "${5:-}" = "${6:-}" ] && linked "$1" "$2"; }
targets() { { on "$1" status --json || true; } | jq '[.connections[]? | select(.direction=="outbound")] | length'; }
npeers() { { on "$1" status --json || true; } | jq '.peers | length'; }

# gossip_attacks MODE: control handshakes from the attacker to h2. With a
# secret, one without it is refused. Insecure, a claim of h1's name (h1 is
# the smaller name: the tie-break alone would let the claim replace the
# link), then, under a fresh name, h1's entry with maximum stamps and a
# message of 10,000 fake peers.
gossip_attacks() {
	local mode=$1 b a blocked=no
	if [ "$mode" = secret ]; then
		b=$(metric h2 weave_switch_handshakes_refused_total 'reason="handshake"')
		local ok=no
		hostile gossip -to $a2:6783 -name 02:66:00:00:00:99 >>"$WS_TMP/att.log" 2>&1 || ok=yes
		for _ in $(seq 30); do
			a=$(metric h2 weave_switch_handshakes_refused_total 'reason="handshake"')
			[ "$a" -gt "$b" ] && break
			sleep 0.1
		done
		ws_check "$mode: a control handshake without the secret fails" [ $ok = yes ]
		ws_check "$mode: and is counted (handshakes_refused handshake: $b -> $a)" moved "$b" "$a"
		[ $ok = yes ] && [ "$a" -gt "$b" ] && blocked=yes
		row "control handshake without the secret (needed for the claim and gossip attacks below)" $mode $blocked \
			"\`weave_switch_handshakes_refused_total{reason=\"handshake\"}\` = $((a - b))"
		return
	fi
	local d0 d1 uid0 uid1
	b=$(metric h2 weave_switch_handshakes_refused_total 'reason="name_claim"')
	d0=$(drops_of h2 $n1) uid0=$(peer_uid h2 $n1)
	hostile gossip -to $a2:6783 -claim $n1 >>"$WS_TMP/att.log" 2>&1 || fail "attacker: claim (see $WS_TMP/att.log)"
	for _ in $(seq 20); do
		a=$(metric h2 weave_switch_handshakes_refused_total 'reason="name_claim"')
		[ "$a" -gt "$b" ] && break
		sleep 0.1
	done
	d1=$(drops_of h2 $n1)
	ws_check "$mode: a claim of h1's name is refused and counted (handshakes_refused name_claim: $b -> $a)" moved "$b" "$a"
	ws_check "$mode: h2's link to h1 stays up through the claim (disconnects: $d0 -> $d1)" kept h2 $n1 "$d0" "$d1"
	[ "$a" -gt "$b" ] && [ "$d1" -eq "$d0" ] && blocked=yes
	row "peer name claim: a control connection as h1, from the attacker's address" $mode $blocked \
		"\`weave_switch_handshakes_refused_total{reason=\"name_claim\"}\` = $((a - b)); h2's link to h1 not dropped"

	local ah0 ah1 ml0 ml1 rss=0 gor=0 tg=0 np=0 r g t n gpid
	ah0=$(metric h2 weave_switch_gossip_dropped_total 'reason="ahead"')
	ml0=$(metric h2 weave_switch_gossip_dropped_total 'reason="malformed"')
	hostile gossip -to $a2:6783 -name 02:66:00:00:00:99 -ahead $n1 -fakes 10000 -hold 6s >>"$WS_TMP/att.log" 2>&1 &
	gpid=$!
	WS_PIDS+=("$gpid")
	while kill -0 "$gpid" 2>/dev/null; do
		r=$(peak_kib h2) g=$(goroutines h2) t=$(targets h2) n=$(npeers h2)
		[ "$r" -gt "$rss" ] && rss=$r
		[ "$g" -gt "$gor" ] && gor=$g
		[ "$t" -gt "$tg" ] && tg=$t
		[ "$n" -gt "$np" ] && np=$n
		sleep 0.3
	done
	wait "$gpid" || fail "attacker: gossip (see $WS_TMP/att.log)"
	ah1=$(metric h2 weave_switch_gossip_dropped_total 'reason="ahead"')
	ml1=$(metric h2 weave_switch_gossip_dropped_total 'reason="malformed"')
	uid1=$(peer_uid h2 $n1) d1=$(drops_of h2 $n1)
	ws_check "$mode: h1's entry with maximum stamps is refused (gossip_dropped ahead: $ah0 -> $ah1)" moved "$ah0" "$ah1"
	ws_check "$mode: h2 keeps h1's real entry (UID $uid0 -> $uid1) and link (disconnects: $d0 -> $d1)" \
		kept h2 $n1 "$d0" "$d1" "$uid0" "$uid1"
	blocked=no
	[ "$ah1" -gt "$ah0" ] && [ "$uid1" = "$uid0" ] && [ "$d1" -eq "$d0" ] && blocked=yes
	row "topology entry for h1 stamped (MaxUint64, MaxUint64), over a control connection under a fresh name" $mode $blocked \
		"\`weave_switch_gossip_dropped_total{reason=\"ahead\"}\` = $((ah1 - ah0)); h2 keeps h1's entry and link"
	ws_check "$mode: 10,000 fake peers in one message are refused at decode (gossip_dropped malformed: $ml0 -> $ml1)" moved "$ml0" "$ml1"
	ws_check "$mode: h2 learns at most the message's first 1,024 (peers at most $np)" [ "$np" -le $((1024 + 8)) ]
	ws_check "$mode: h2's dial targets stay at most 1,024 (+ its --peer; at most $tg)" [ "$tg" -le 1025 ]
	ws_check "$mode: h2's peak RSS < 200 MiB ($((rss / 1024)) MiB)" [ "$rss" -lt $((200 * 1024)) ]
	ws_check "$mode: h2's goroutines < 1000 ($gor)" [ "$gor" -lt 1000 ]
	ws_check "$mode: c1 still pings c2 after the gossip attacks" in_ns "$p-c1" ping -c 2 -i 0.2 -W 1 10.40.0.2
	blocked=no
	[ "$ml1" -gt "$ml0" ] && [ "$np" -le $((1024 + 8)) ] && [ "$tg" -le 1025 ] && [ "$rss" -lt $((200 * 1024)) ] && [ "$gor" -lt 1000 ] && blocked=yes
	row "one message of 10,000 fake peers, each a dial target" $mode $blocked \
		"\`weave_switch_gossip_dropped_total{reason=\"malformed\"}\` = $((ml1 - ml0)); peers at most $np, dial targets at most $tg; h2 peak RSS $((rss / 1024)) MiB, goroutines at most $gor"
}

run_mode() {
	local mode=$1
	p=wsh-$WS_ID-$mode
	pretty "$mode: underlay with an attacker, two routers, c1 on h1 and c2 on h2"
	mk_underlay
	local h1flags=() h2flags=() h3flags=()
	if [ "$mode" = secret ]; then
		router_up "$p-h1" h1 "$WS_TMP/h1-$mode.log" --name $n1 --nickname h1
		local tok
		tok=$(on h1 join-token)
		h2flags=(--join "$tok")
		h3flags=(--join "$tok")
	else
		h1flags=(--insecure --datapath vxlan)
		router_up "$p-h1" h1 "$WS_TMP/h1-$mode.log" --name $n1 --nickname h1 "${h1flags[@]}"
		h2flags=(--insecure --datapath vxlan --peer $a1)
		h3flags=(--insecure --datapath vxlan --peer $a1)
	fi
	router_up "$p-h2" h2 "$WS_TMP/h2-$mode.log" --name $n2 --nickname h2 "${h2flags[@]}"
	wait_links h1 1
	wait_links h2 1
	on h1 attach "$p-c1" 10.40.0.1/24 >/dev/null
	on h2 attach "$p-c2" 10.40.0.2/24 >/dev/null
	count_in c1
	count_in c2
	ws_check "$mode: c1 pings c2 (and the container counters see it)" \
		bash -c "ip netns exec $p-c1 ping -c 3 -i 0.2 -W 1 10.40.0.2 >/dev/null && [ \$(ip netns exec $p-c2 nft -j list counter netdev hostile pings | jq '.nftables[] | select(.counter) | .counter.packets') -ge 3 ]"

	local fr=(-sender $n1 -mac $fmac -ip-src $fip -ip-dst 10.40.0.2)
	local to=$a2:6783 spoof=(-spoof $a1:6783)
	pretty "$mode: forged and replayed sleeve datagrams"
	if [ "$mode" = secret ]; then
		attack $mode "forged sleeve frame naming h1, from the attacker's address" h2 sleeve_drop plaintext \
			sleeve -to $to -kind forged "${fr[@]}"
		attack $mode "forged sleeve frame naming h1, h1's address forged" h2 sleeve_drop plaintext \
			sleeve -to $to -kind forged "${spoof[@]}" "${fr[@]}"
		attack $mode "sealed garbage naming h1, h1's address forged" h2 sleeve_drop auth \
			sleeve -to $to -kind sealed "${spoof[@]}" "${fr[@]}"
	else
		attack $mode "forged sleeve frame naming h1, from the attacker's address" h2 router_drop wrong_source \
			sleeve -to $to -kind forged "${fr[@]}"
		attack $mode "forged sleeve frame naming an unknown peer" h2 router_drop unknown_sender \
			sleeve -to $to -kind forged -sender 02:66:00:00:00:01 -mac $fmac -ip-src $fip -ip-dst 10.40.0.2
		attack $mode "sealed garbage naming h1, from the attacker's address" h2 sleeve_drop no-key \
			sleeve -to $to -kind sealed "${fr[@]}"
	fi

	if [ "$mode" = secret ]; then
		replay_attack $mode "replayed sleeve datagrams, h1's address forged" 6783 sleeve_drop replay
	else
		replay_attack $mode "replayed sleeve datagrams, from the attacker's address" 6783 router_drop wrong_source -own
		replay_attack $mode "replayed vxlan datagrams, from the attacker's address" 6785 fence "" -own
	fi

	pretty "$mode: frames to the fast path's UDP 6785"
	if [ "$mode" = secret ]; then
		local out unreach
		out=$(hostile vxlan -to $a2:6785 "${fr[@]}" 2>&1) || fail "attacker: vxlan: $out"
		echo "$out" >>"$WS_TMP/att.log"
		unreach=$(sed -n 's/.*port unreachable: \([0-9]*\).*/\1/p' <<<"$out")
		sleep 0.3
		ws_check "$mode: vxlan frames to 6785: nothing reaches c1 or c2" nothing_forged
		ws_check "$mode: no vxlan device on h2 (the fast path is off for encrypted links)" \
			bash -c "[ -z \"\$(ip -n $p-h2 link show type vxlan)\" ]"
		ws_check "$mode: h2 answers 6785 with port unreachable ($unreach)" [ "${unreach:-0}" -gt 0 ]
		local b=no
		nothing_forged && [ "${unreach:-0}" -gt 0 ] && b=yes
		row "vxlan frames to UDP 6785" $mode $b "none: port closed (no fast path for encrypted links), ICMP port unreachable = $unreach"
	else
		ws_check "$mode: the fast path is up on h2" bash -c "'$WS_BIN' status fastpath --json --api '$WS_TMP/h2.sock' | jq -e '.fence != null and .fence != \"\"' >/dev/null"
		attack $mode "vxlan frames to UDP 6785 from the attacker" h2 fence "" vxlan -to $a2:6785 "${fr[@]}"
	fi

	pretty "$mode: bogus offload descriptors, oversized, truncated and short datagrams"
	if [ "$mode" = secret ]; then
		attack $mode "bogus GSO descriptors, h1's address forged" h2 sleeve_drop plaintext \
			sleeve -to $to -kind gso "${spoof[@]}" "${fr[@]}"
		attack $mode "truncated datagrams" h2 sleeve_drop plaintext sleeve -to $to -kind truncated "${fr[@]}"
	else
		attack $mode "bogus GSO descriptors, h1's address forged" h2 router_drop bad_gso \
			sleeve -to $to -kind gso "${spoof[@]}" "${fr[@]}"
		attack $mode "truncated datagrams" h2 sleeve_drop truncated sleeve -to $to -kind truncated "${fr[@]}"
	fi
	attack $mode "oversized datagrams (9,642 bytes)" h2 sleeve_drop oversize sleeve -to $to -kind oversize "${fr[@]}"
	attack $mode "short datagrams (3 bytes)" h2 sleeve_drop short sleeve -to $to -kind short "${fr[@]}"

	pretty "$mode: a flood of idle TCP connections to h1:6783 from ${#extra[@]} addresses while h3 joins"
	local rf0 rf1 rss=0 gor=0 r g rss0 gor0
	rf0=$(refused h1) rss0=$(peak_kib h1) gor0=$(goroutines h1)
	in_ns "$p-att" "$ATT" flood -to $a1:6783 -from "$(IFS=,; echo "${extra[*]}")" -conns 32 -for "$FLOOD" >>"$WS_TMP/att.log" 2>&1 &
	local fpid=$!
	WS_PIDS+=("$fpid")
	sleep 1
	router_up "$p-h3" h3 "$WS_TMP/h3-$mode.log" --name $n3 --nickname h3 "${h3flags[@]}"
	local t0=$SECONDS joined=no
	while kill -0 "$fpid" 2>/dev/null; do
		r=$(peak_kib h1) g=$(goroutines h1)
		[ "$r" -gt "$rss" ] && rss=$r
		[ "$g" -gt "$gor" ] && gor=$g
		if [ $joined = no ] && { on h3 status --json || true; } | jq -e --arg h1 $n1 '[.connections[]? | select(.state=="established" and .peer==$h1)] | length > 0' >/dev/null 2>&1; then
			joined=yes
			pretty "$mode: h3 established after $((SECONDS - t0)) s, the flood still on"
		fi
		sleep 0.3
	done
	wait "$fpid" || fail "attacker: flood"
	rf1=$(refused h1)
	ws_check "$mode: h3 joined h1 during the flood" [ $joined = yes ]
	ws_check "$mode: the flood is refused and counted (handshakes_refused: $rf0 -> $rf1)" moved "$rf0" "$rf1"
	ws_check "$mode: h1's peak RSS under the flood < 200 MiB ($((rss / 1024)) MiB)" [ "$rss" -lt $((200 * 1024)) ]
	ws_check "$mode: h1's goroutines under the flood < 1000 ($gor)" [ "$gor" -lt 1000 ]
	ws_check "$mode: c1 still pings c2 after everything" in_ns "$p-c1" ping -c 2 -i 0.2 -W 1 10.40.0.2
	blocked=no
	[ $joined = yes ] && [ "$rf1" -gt "$rf0" ] && blocked=yes
	row "TCP 6783 flood, 4 addresses x 32 connections (idle or random bytes), h3 joins" $mode $blocked \
		"\`weave_switch_handshakes_refused_total\` (all reasons) = $((rf1 - rf0)); h1 peak RSS $((rss / 1024)) MiB ($((rss0 / 1024)) before), goroutines at most $gor ($gor0 before)"
	metrics h1 | grep '^weave_switch_handshakes_refused_total' >>"$WS_TMP/att.log" || true

	pretty "$mode: control handshakes from the attacker: a peer name claim, gossip with maximum stamps and 10,000 fake peers"
	gossip_attacks $mode

	router_down h3
	router_down h2
	router_down h1
	rm -rf "$WS_TMP/h1" "$WS_TMP/h2" "$WS_TMP/h3"
}

for m in $MODES; do run_mode "$m"; done

echo
echo "| attack | mode | blocked | counter (increase) |"
echo "| --- | --- | --- | --- |"
printf '%s\n' "${ROWS[@]}"
echo
