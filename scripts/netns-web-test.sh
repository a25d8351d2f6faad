#!/usr/bin/env bash
# The live status page in headless Chromium, and the Prometheus rules and
# Grafana dashboard against a live router's metrics, on the five-host
# partial mesh of netns-mesh-test.sh plus a browser host wired to h3:
#
#            h2                    h4 (--transport wireguard)
#     .12.2 |                      | .34.4
#     .12.1 |                      | .34.3
#           h1 ---.13.1----.13.3-- h3 --.99.3----.99.1-- b (browser)
#    metrics 127.0.0.1:6782        | .35.3     page on 198.18.99.3:6784
#    page 127.0.0.1:6784           | .35.5
#                                  h5 (--transport quic)
#
# h1, h2 and h3 run the kernel fast path (vxlan, unencrypted on the
# fast path), h4 and h5 userspace; each host has one container
# 10.32.0.N/12; h3 runs the DNS and names its container web3.
#
# Asserts: the page is served on the API socket and on --http-addr, which
# is read-only (no POST, no API, no profiling, no metrics); status --web
# prints its address; Chromium loads it (from b, and from h1 over
# loopback) and its DOM, after the script has polled, lists every peer
# and every link (from gossip, the same on every router) with this
# router's links' transport, data path and encryption, the containers
# with their addresses and names, and the health; a link whose data path
# is cut (nftables drops UDP between h1 and h2) turns from "up" to not
# up in the page within a bound, and back up when restored; neither the
# JS console nor the page's error box holds an error. Then promtool: the
# rules check and pass their unit tests, h1's /metrics passes `promtool
# check metrics`, and every metric the rules and the dashboard use is in
# it. Screenshots go to $WS_WEB_SHOTS (default /tmp/weave-switch-web-test),
# which the cleanup keeps. Needs root, chromium and promtool
# (scripts/deps.sh installs them); names are unique per run.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-web-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"
command -v chromium >/dev/null || fail "no chromium (run scripts/deps.sh)"
command -v promtool >/dev/null || fail "no promtool (run scripts/deps.sh)"

SHOTS=${WS_WEB_SHOTS:-/tmp/weave-switch-web-test}
mkdir -p "$SHOTS"
p=wsw-$WS_ID
nft_table=wsweb_$WS_ID
unblock() { ip netns exec "$p-h2" nft delete table inet "$nft_table" 2>/dev/null || true; }
trap 'unblock; ws_finish netns-web-test' EXIT

for i in 1 2 3 4 5; do ns_add "$p-h$i"; ns_add "$p-c$i"; done
ns_add "$p-b"
wire() { # wire A B: veth between hosts A and B on 198.18.AB.0/24
	link_ns "$p-h$1" "$p-h$2" "u$1$2" "u$2$1" "198.18.$1$2.$1/24" "198.18.$1$2.$2/24"
}
wire 1 2
wire 1 3
wire 3 4
wire 3 5
link_ns "$p-b" "$p-h3" ub3 u3b 198.18.99.1/24 198.18.99.3/24

start() { # start I PEER [flags...]: router on host I, joining through PEER
	local i=$1 peer=$2; shift 2
	local args=(--name "02:00:00:00:00:0$i" --nickname "h$i" --listen 0.0.0.0:6783)
	if [ -n "$peer" ]; then args+=(--join "$(ws join-token --api "$WS_TMP/h1.sock" --addr "$peer")"); fi
	router_up "$p-h$i" "h$i" "$WS_TMP/h$i.log" "${args[@]}" "$@"
}
fast=(--datapath vxlan --fastpath-unencrypted)
start 1 "" "${fast[@]}" --http-addr 127.0.0.1:6784 --metrics-addr 127.0.0.1:6782
start 2 198.18.12.1 "${fast[@]}"
WS_DNS=1 start 3 198.18.13.1 "${fast[@]}" --dns-listen 127.0.0.1:53 --http-addr 198.18.99.3:6784 --offer wireguard --offer quic
start 4 198.18.34.3 --transport wireguard
start 5 198.18.35.3 --transport quic
for i in 1 2 4 5; do
	ws attach --api "$WS_TMP/h$i.sock" "$p-c$i" "10.32.0.$i/12" >/dev/null
done
ws attach --api "$WS_TMP/h3.sock" "$p-c3" 10.32.0.3/12 --name web3 --no-resolv-conf >/dev/null
wait_links h1 2
wait_links h3 3
# Every router gossips its links: 4 links, each named by both its ends.
gossiped() { # gossiped NAME: how many link ends router NAME knows of
	"$WS_BIN" status --api "$WS_TMP/$1.sock" --json 2>/dev/null | jq '[.peers[]?.links // [] | length] | add // 0'
}
for name in h1 h3; do
	for _ in $(seq 100); do [ "$(gossiped $name)" -ge 8 ] && break; sleep 0.2; done
done

n=(0 02:00:00:00:00:01 02:00:00:00:00:02 02:00:00:00:00:03 02:00:00:00:00:04 02:00:00:00:00:05)
links=("${n[1]} ${n[2]}" "${n[1]} ${n[3]}" "${n[3]} ${n[4]}" "${n[3]} ${n[5]}")
page3=http://198.18.99.3:6784/ page1=http://127.0.0.1:6784/

# --- the page's server ---------------------------------------------------
code() { # code NS METHOD URL: the HTTP status of a request
	ip netns exec "$1" curl -s -o /dev/null -w '%{http_code}' -X "$2" "$3"
}
ws_check "status --web prints the page's address" bash -c "[ \"\$('$WS_BIN' status --web --api $WS_TMP/h3.sock)\" = $page3 ]"
ws_check "status --web without --http-addr fails and names the flag" bash -c \
	"! '$WS_BIN' status --web --api $WS_TMP/h2.sock >/dev/null 2>&1 && '$WS_BIN' status --web --api $WS_TMP/h2.sock 2>&1 | grep -q -- --http-addr"
ws_check "the page on the API socket" bash -c "curl -sf --unix-socket $WS_TMP/h3.sock http://localhost/ | grep -q '<title>weave-switch'"
ws_check "the page's status on the API socket carries the health" bash -c "curl -sf --unix-socket $WS_TMP/h3.sock http://localhost/web/status | jq -e '.health.ok and .schema >= 2' >/dev/null"
ws_check "--http-addr serves the page to another host" bash -c \
	"ip netns exec $p-b curl -s -o /dev/null -w '%{http_code} %{content_type}' $page3 | grep -qx '200 text/html; charset=utf-8'"
for req in "POST web/status 405" "GET v1/status 404" "POST v1/attach 404" "POST v1/down 404" "GET debug/pprof/ 404" "GET metrics 404"; do
	set -- $req
	ws_check "--http-addr is read-only: $1 /$2 answers $3" bash -c "[ \$(ip netns exec $p-b curl -s -o /dev/null -w '%{http_code}' -X $1 $page3$2) = $3 ]"
done
ws_check "--http-addr sends a content security policy (no external asset can load)" bash -c \
	"ip netns exec $p-b curl -sI $page3 | grep -qi \"^content-security-policy: default-src 'none'\""

# --- the page in Chromium ------------------------------------------------
# browse NS URL OUT [chromium flags]: load URL in headless Chromium in
# namespace NS and let its script poll for 4 s of virtual time; the DOM
# goes to OUT (or the screenshot where the flags say), Chromium's log
# (with the JS console's messages) to $WS_TMP/chromium-N.err, one per run.
# A Chromium that dies of a signal (a crash of the browser, not the
# page's doing: a page cannot make it segfault) is started once more,
# saying so; its log is kept.
BROWSED=0
browse() {
	local ns=$1 url=$2 out=$3; shift 3
	local prof rc attempt
	for attempt in 1 2; do
		prof=$(mktemp -d "$WS_TMP/chromium.XXXX")
		BROWSED=$((BROWSED + 1))
		rc=0
		HOME=$prof ip netns exec "$ns" timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run \
			--user-data-dir="$prof" --enable-logging=stderr --v=0 --virtual-time-budget=4000 --hide-scrollbars \
			"$@" "$url" >"$out" 2>"$WS_TMP/chromium-$BROWSED.err" || rc=$?
		# 124: timeout killed it; above 128: it died of signal rc-128.
		if [ "$rc" -le 128 ] || [ "$attempt" = 2 ]; then
			return "$rc"
		fi
		pretty "chromium died of signal $((rc - 128)) loading $url (log $WS_TMP/chromium-$BROWSED.err); starting it again"
	done
}
dom() { browse "$1" "$2" "$3" --dump-dom; }
# link_state FILE KEY: the data-state of the SVG link KEY in a dumped DOM.
link_state() { grep -o "<line [^>]*data-link=\"$2\"[^>]*>" "$1" | grep -o 'data-state="[^"]*"' | head -1 | cut -d'"' -f2; }
link_attr() { grep -o "<line [^>]*data-link=\"$2\"[^>]*>" "$1" | grep -o "$3=\"[^\"]*\"" | head -1 | cut -d'"' -f2; }
page_ok() { # page_ok FILE: the script polled at least twice and recorded no error
	grep -q 'data-polls="[2-9]\|data-polls="[1-9][0-9]' "$1" || { echo "the script did not poll: $(grep -o '<body[^>]*>' "$1")"; return 1; }
	grep -q '<pre id="errors" data-count="0"></pre>' "$1" || { grep -A3 'id="errors"' "$1"; return 1; }
}
every_peer_and_link() { # every_peer_and_link FILE
	local i k bad=0
	for i in 1 2 3 4 5; do
		grep -q "<g class=\"peer[^\"]*\" data-peer=\"${n[$i]}\"" "$1" || { echo "no peer ${n[$i]} in the mesh"; bad=1; }
		grep -q "<tr data-peer=\"${n[$i]}\"" "$1" || { echo "no peer ${n[$i]} in the table"; bad=1; }
	done
	for k in "${links[@]}"; do
		[ "$(link_state "$1" "$k")" = up ] || { echo "link $k: state '$(link_state "$1" "$k")', want up"; bad=1; }
	done
	[ "$(grep -o '<line class="link' "$1" | wc -l)" -eq 4 ] || { echo "$(grep -o '<line class="link' "$1" | wc -l) links drawn, want 4"; bad=1; }
	return $bad
}

# Traffic on h3's link to h4 (WireGuard, userspace) while the page polls,
# for its throughput.
ip netns exec "$p-c3" iperf3 -s -D -1 -p 5201 --logfile "$WS_TMP/iperf3-s.log"
wait_listen "$p-c3" 5201
ip netns exec "$p-c4" iperf3 -c 10.32.0.3 -p 5201 -t 10 -b 20M >"$WS_TMP/iperf3-c.log" 2>&1 &
WS_PIDS+=($!)
sleep 1
dom "$p-b" "$page3" "$WS_TMP/h3.html"
ws_check "h3's page from the browser host: the script ran without error" page_ok "$WS_TMP/h3.html"
ws_check "h3's page lists the 5 peers and the 4 links, all up" every_peer_and_link "$WS_TMP/h3.html"
ws_check "h3's page: its links' transports (sleeve to h1, wireguard to h4, quic to h5)" bash -c "$(declare -f link_attr); \
	[ \"\$(link_attr $WS_TMP/h3.html '${links[1]}' data-transport)\" = sleeve ] && \
	[ \"\$(link_attr $WS_TMP/h3.html '${links[2]}' data-transport)\" = wireguard ] && \
	[ \"\$(link_attr $WS_TMP/h3.html '${links[3]}' data-transport)\" = quic ]"
ws_check "h3's page: h1-h3 on the fast path, unencrypted; h3-h4 userspace, encrypted" bash -c "$(declare -f link_attr); \
	[ \"\$(link_attr $WS_TMP/h3.html '${links[1]}' data-datapath)\" = fastpath ] && \
	[ \"\$(link_attr $WS_TMP/h3.html '${links[1]}' data-encrypted)\" = false ] && \
	[ \"\$(link_attr $WS_TMP/h3.html '${links[2]}' data-datapath)\" = userspace ] && \
	[ \"\$(link_attr $WS_TMP/h3.html '${links[2]}' data-encrypted)\" = true ]"
ws_check "h3's page: h3-h4 carries iperf3's 20 Mbit/s ($(link_attr "$WS_TMP/h3.html" "${links[2]}" data-rx-bps) bit/s received, RTT $(link_attr "$WS_TMP/h3.html" "${links[2]}" data-rtt) s)" \
	bash -c "$(declare -f link_attr); r=\$(link_attr $WS_TMP/h3.html '${links[2]}' data-rx-bps); [ \"\${r:-0}\" -gt 1000000 ] && \
	awk \"BEGIN{exit !(\$(link_attr $WS_TMP/h3.html '${links[2]}' data-rtt) > 0)}\""
ws_check "h3's page: h1-h2 is drawn from gossip (not h3's own link)" bash -c "$(declare -f link_attr); [ \"\$(link_attr $WS_TMP/h3.html '${links[0]}' data-local)\" = false ]"
ws_check "h3's page lists its container with its DNS name and address" bash -c "grep -q '<td>$p-c3</td><td>web3.weave.local</td><td>10.32.0.3/12</td>' $WS_TMP/h3.html"
ws_check "h3's page shows the health (ok)" grep -q 'data-health="ok"' "$WS_TMP/h3.html"

browse "$p-b" "$page3" "$WS_TMP/shot.out" --window-size=1280,1500 --screenshot="$SHOTS/h3.png"
ws_check "a screenshot of h3's page: $SHOTS/h3.png" bash -c "[ \$(stat -c %s $SHOTS/h3.png) -gt 20000 ] && head -c 8 $SHOTS/h3.png | grep -q PNG"

dom "$p-h1" "$page1" "$WS_TMP/h1.html"
ws_check "h1's page over loopback lists the same 5 peers and 4 links" every_peer_and_link "$WS_TMP/h1.html"
ws_check "h1's page: the script ran without error" page_ok "$WS_TMP/h1.html"

pretty "cutting the data path between h1 and h2 (nftables drops UDP on h2's side)"
ip netns exec "$p-h2" nft -f - <<EOF
table inet $nft_table {
	chain in { type filter hook input priority -10; policy accept; iifname "u21" meta l4proto udp drop; }
	chain out { type filter hook output priority -10; policy accept; oifname "u21" meta l4proto udp drop; }
}
EOF
# c1 keeps pinging c2 across the cut link: a link with traffic is pinged
# every second and found down within about 6 s; an idle one only within
# the keepalive (10 s) and 6 s.
ip netns exec "$p-c1" ping -q -i 0.2 -W 1 10.32.0.2 >/dev/null 2>&1 &
cut_ping=$!
WS_PIDS+=("$cut_ping")
cut=$(date +%s.%N) state=up
for _ in $(seq 20); do
	dom "$p-h1" "$page1" "$WS_TMP/h1-down.html"
	state=$(link_state "$WS_TMP/h1-down.html" "${links[0]}")
	[ "$state" != up ] && break
	sleep 0.5
done
took=$(awk "BEGIN{printf \"%.1f\", $(date +%s.%N) - $cut}")
# The bound: with traffic the link is pinged every second and declared
# down when a ping has gone unanswered for 5 s (LinkTimeout), the status
# refreshes within 2 s, the page polls every second; plus Chromium's
# start.
ws_check "the cut link turns from up to '$state' in h1's page after ${took}s (bound 12 s)" \
	bash -c "[ '$state' != up ] && [ -n '$state' ] && awk 'BEGIN{exit !($took <= 12)}'"
ws_check "h1's page still shows h1-h3 up" bash -c "$(declare -f link_state); [ \"\$(link_state $WS_TMP/h1-down.html '${links[1]}')\" = up ]"
browse "$p-h1" "$page1" "$WS_TMP/shot.out" --window-size=1280,1500 --screenshot="$SHOTS/h1-link-down.png"
unblock
state=down
for _ in $(seq 30); do
	dom "$p-h1" "$page1" "$WS_TMP/h1-up.html"
	state=$(link_state "$WS_TMP/h1-up.html" "${links[0]}")
	[ "$state" = up ] && break
	sleep 0.5
done
ws_check "restored, the link is up again in h1's page" bash -c "[ '$state' = up ]"
kill "$cut_ping" 2>/dev/null || true

console_clean() { # no message on any page's JS console, in any Chromium run
	[ "$(ls "$WS_TMP"/chromium-*.err | wc -l)" -eq "$BROWSED" ] || { echo "missing Chromium logs"; return 1; }
	! grep -h ':CONSOLE' "$WS_TMP"/chromium-*.err
}
ws_check "the JS console stayed empty in every page load ($BROWSED Chromium runs)" console_clean

# --- Prometheus rules and Grafana dashboard ------------------------------
ws_check "promtool check rules deploy/prometheus/alerts.yml" promtool check rules deploy/prometheus/alerts.yml
ws_check "promtool test rules deploy/prometheus/alerts_test.yml" promtool test rules deploy/prometheus/alerts_test.yml
ws_check "the Grafana dashboard is JSON with panels" jq -e '.panels | length > 10' deploy/grafana/weave-switch.json
ip netns exec "$p-h1" curl -sf http://127.0.0.1:6782/metrics >"$WS_TMP/metrics.txt" || fail "no metrics on h1's --metrics-addr"
ws_check "promtool check metrics: h1's live /metrics" bash -c "promtool check metrics <$WS_TMP/metrics.txt"
used_metrics() { # the metric names the rules and the dashboard use
	{ grep -oE 'weave_switch_[a-z0-9_]+' deploy/prometheus/alerts.yml
	  jq -r '.. | .expr? // empty' deploy/grafana/weave-switch.json | grep -oE 'weave_switch_[a-z0-9_]+'; } | sort -u
}
metrics_exist() {
	local m bad=0
	for m in $(used_metrics); do
		grep -q "^$m[{ ]" "$WS_TMP/metrics.txt" || { echo "$m: not in h1's /metrics"; bad=1; }
	done
	return $bad
}
ws_check "every metric the rules and the dashboard use ($(used_metrics | wc -l)) is in h1's live /metrics" metrics_exist

for i in 1 2 3 4 5; do router_down "h$i"; done
pretty "screenshots: $SHOTS/h3.png $SHOTS/h1-link-down.png"
[ $WS_FAILED -eq 0 ]
