#!/usr/bin/env bash
# End-to-end test of weave-switch with Docker: two hosts, each with its own
# real dockerd and its own `weave-switch up`, containers started by the
# docker CLI.
#
#     w1 p1 p3 c1 i1 (containers)          w2 p2 i2 (containers)
#        [weave]  [docker0]                   [weave]  [docker0]
#     host h1: router + dockerd            host h2: router + dockerd
#      198.18.0.1/24 ------- underlay bridge ------- 198.18.0.2/24
#
# A host is a network namespace plus a private mount namespace, so that each
# has its own /run/docker/plugins, /run/weave-switch and /etc/docker
# (scripts/docker-lib.sh). The image is a busybox rootfs imported into each
# dockerd: no registry.
#
# Asserts: containers of both hosts on the network `weave` (docker run
# --network weave, the router's plugin) reach each other (ping, TCP);
# network connect/disconnect; a --subnet network is isolated from `weave`;
# the API proxy (DOCKER_HOST from `weave-switch env`) with WEAVE_CIDR and
# with an automatic address, attach/stdin/exec through it; restart keeps
# the address; rm releases it within 30 s and a new container gets it back;
# router restarts (SIGTERM and SIGKILL) while containers run lose nothing;
# the managed (v2) plugin; `weave-switch attach` of a container's PID;
# the routers' DNS (on each bridge address; the hosts' resolv.conf names an
# upstream dnsmasq of the test's own): containers started through the proxy
# and plain `--network weave --dns ADDR --dns-search weave.local` ones find
# the other host's containers by Docker name, several containers under one
# hostname and a `dns-add` name all answer, other names are forwarded (an
# unknown one fails with NXDOMAIN), names follow restarts (router and
# container) and `docker rm` removes them from both routers (the time is
# shown), `status dns` names each entry's owner; and a teardown that
# leaves no dockerd, namespace, link, mount, cgroup or rule.
# Needs root. Names are unique per run (wsdk-$$-…); everything is removed on
# exit, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
. scripts/docker-lib.sh

[ "$(id -u)" -eq 0 ] || { echo "netns-docker-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"
for c in dockerd docker busybox nsenter unshare jq dnsmasq; do
	command -v "$c" >/dev/null || fail "no $c (run scripts/deps.sh)"
done

p=wsdk-$WS_ID
WS_PREFIX=$p
# The routers serve DNS (docker-lib.sh starts them with --no-dns otherwise).
export WS_DNS=1
IMG=$DH_IMAGE
dh_snapshot "$WS_TMP/before.snapshot"

no_leftovers() {
	local out
	out=$(dh_leftovers "$WS_TMP/before.snapshot")
	[ -z "$out" ] || { echo "$out"; return 1; }
}
# The exit trap may run from inside a check whose output is redirected:
# it writes to the script's own stdout and stderr, kept here.
exec 3>&1 4>&2
on_exit() {
	local rc=$?
	set +e
	exec 1>&3 2>&4
	if [ -n "${WS_HOLD:-}" ]; then
		pretty "holding for $WS_HOLD s before the teardown (WS_HOLD): $WS_TMP, hosts $p-h1 $p-h2 (mount ns: /proc/${DH_MNT[h1]:-}/ns/mnt /proc/${DH_MNT[h2]:-}/ns/mnt)"
		sleep "$WS_HOLD"
	fi
	pretty "tearing down"
	dh_teardown
	if [ -n "${WS_LOGS:-}" ]; then
		mkdir -p "$WS_LOGS" && cp "$WS_TMP"/*.log "$WS_LOGS"/ 2>/dev/null
		pretty "logs copied to $WS_LOGS (WS_LOGS)"
	fi
	ws_check "teardown leaves no dockerd, containerd, router, namespace, link, mount, cgroup, rule or key file" no_leftovers
	(exit $rc)
	ws_finish netns-docker-test
}
trap on_exit EXIT
# Interrupted (Ctrl-C, a CI time limit): exit, so that on_exit cleans up.
trap 'exit 130' INT
trap 'exit 143' TERM

# retry N CMD...: CMD until it succeeds, N tries half a second apart.
retry() {
	local n=$1 i; shift
	for i in $(seq "$n"); do
		"$@" && return 0
		[ "$i" -lt "$n" ] && sleep 0.5
	done
	return 1
}
# cping HOST CONTAINER ADDR: ADDR answers a ping from CONTAINER.
cping() { dk "$1" exec "$2" ping -c 2 -W 2 "$3"; }
# no_ping HOST CONTAINER ADDR: ADDR does not answer CONTAINER (which runs).
no_ping() {
	local out
	[ -n "$3" ] || { echo "no address to ping"; return 1; }
	out=$(dk "$1" exec "$2" ping -c 2 -W 1 "$3" 2>&1)
	echo "$out"
	grep -q ' 0 packets received' <<<"$out"
}
# echo_server DK HOST CONTAINER: a TCP echo server on port 7000 in CONTAINER
# (DK: dk or pdk, the CLI path to use).
echo_server() { "$1" "$2" exec -d "$3" nc -ll -p 7000 -e /bin/sh -c 'read l; echo "echo:$l"'; }
# tcp_echo HOST CONTAINER ADDR: a line sent to ADDR:7000 comes back.
tcp_echo() {
	local out
	out=$(dk "$1" exec "$2" sh -c "echo hello-$WS_ID | nc $3 7000") || true
	echo "got: $out"
	[ "$out" = "echo:hello-$WS_ID" ]
}
# has_ip HOST CONTAINER ADDR: CONTAINER's only weave address is ADDR (its
# prefix length is the subnet's, whatever WEAVE_CIDR said).
has_ip() {
	local got
	got=$(caddrs "$1" "$2" | tr '\n' ' ')
	echo "$2 on $1 has: ${got:-no weave address}"
	[ -n "$3" ] && [ "$(sed 's|/[0-9]*||g' <<<"$got")" = "$3 " ]
}
# output_is WANT CMD...: CMD prints exactly WANT (not empty).
output_is() {
	local want=$1 out; shift
	[ -n "$want" ] || { echo "nothing to compare with"; return 1; }
	out=$("$@") || { echo "failed; output: $out"; return 1; }
	echo "got: $out"
	[ "$out" = "$want" ]
}
# with_stdin TEXT CMD...: CMD with TEXT on its stdin.
with_stdin() { local t=$1; shift; "$@" <<<"$t"; }
# no_weave_addr HOST CONTAINER: CONTAINER has no address in the weave range.
no_weave_addr() {
	local got
	got=$(caddrs "$1" "$2" || true)
	echo "weave addresses: ${got:-none}"
	[ -z "$got" ]
}
# gateway_on_ethwe HOST CONTAINER: CONTAINER has an ethwe* interface and
# its default route goes through it (the plugin returned a gateway).
gateway_on_ethwe() {
	local pid
	pid=$(cpid "$1" "$2") || return 1
	nsenter --net="/proc/$pid/ns/net" sh -c 'ip -br link; ip route; ip -br link | grep -q "^ethwe" && ip route | grep -q "^default via .* dev ethwe"'
}
# in_subnet ADDR REGEX: ADDR (not empty) matches REGEX.
in_subnet() { echo "address: ${1:-none}"; [ -n "$1" ] && grep -qE "$2" <<<"$1"; }
# ipam_json HOST: HOST's `status ipam --json` (status may exit 3, unhealthy,
# with its JSON all the same).
ipam_json() { ws_on "$1" status ipam --json 2>/dev/null || true; }
# ipam_held HOST KEY ADDR: HOST's allocator holds ADDR under KEY.
ipam_held() {
	local st
	st=$(ipam_json "$1")
	jq -e --arg k "$2" --arg a "$3" '.allocations[] | select(.key == $k) | .addrs | index($a)' <<<"$st" >/dev/null && return 0
	echo "want $3 under $2; allocations:"
	jq -c '.allocations[]' <<<"$st"
	return 1
}
# ipam_free HOST ADDR: no allocation of HOST holds ADDR.
ipam_free() {
	[ -n "$2" ] || { echo "no address"; return 1; }
	! ipam_json "$1" | jq -e --arg a "$2" '.allocations[] | select(.addrs | index($a))'
}
# ipam_any HOST ADDR: an allocation of HOST holds ADDR.
ipam_any() {
	ipam_json "$1" | jq -e --arg a "$2" '.allocations[] | select(.addrs | index($a))'
}
# rm_releases DK HOST CONTAINER ADDR: ADDR is allocated, `docker rm -f
# CONTAINER` (DK: dk or pdk) and ADDR is released within 30 s.
rm_releases() {
	local t0
	ipam_any "$2" "$4" || { echo "$4 is not allocated before the rm"; return 1; }
	t0=$(date +%s.%N)
	"$1" "$2" rm -f "$3" || return 1
	released_within "$2" "$4" 30 "$t0"
}
# released_within HOST ADDR SECONDS [SINCE]: ADDR is released within
# SECONDS (of SINCE, a date +%s.%N, by default now); RELEASED_AFTER says
# when.
RELEASED_AFTER=
released_within() {
	local t0=${4:-} t
	[ -n "$2" ] || { echo "no address"; return 1; }
	[ -n "$t0" ] || t0=$(date +%s.%N)
	for _ in $(seq $(($3 * 5))); do
		if ipam_free "$1" "$2" >/dev/null; then
			t=$(date +%s.%N)
			RELEASED_AFTER=$(awk "BEGIN{printf \"%.1f\", $t - $t0}")
			return 0
		fi
		sleep 0.2
	done
	ipam_json "$1" | jq -c '.allocations'
	return 1
}

# lookup HOST CONTAINER NAME: the IPv4 addresses busybox's nslookup in
# CONTAINER finds for NAME (through the container's resolv.conf), sorted,
# one a line; nothing when it finds none.
lookup() {
	dk "$1" exec "$2" nslookup -type=a "$3" 2>&1 | awk '/^Name:/ { a = 1 } a && /^Address:/ { print $2 }' | sort
}
# resolves HOST CONTAINER NAME ADDR...: NAME resolves in CONTAINER to
# exactly ADDR... (in any order).
resolves() {
	local h=$1 c=$2 n=$3 want got; shift 3
	want=$(printf '%s\n' "$@" | sort)
	got=$(lookup "$h" "$c" "$n")
	echo "$n in $c on $h: $(echo ${got:-nothing}), want $(echo $want)"
	[ -n "$1" ] && [ "$got" = "$want" ]
}
# nxdomain HOST CONTAINER NAME: NAME does not resolve in CONTAINER, and
# the answer says so (NXDOMAIN, not a time-out).
nxdomain() {
	local out
	out=$(dk "$1" exec "$2" nslookup -type=a "$3" 2>&1) || true
	echo "$out"
	grep -q NXDOMAIN <<<"$out"
}
# dns_ns HOST: the address HOST's router serves DNS on in the default
# subnet (10.32.0.0/13), from `status dns --json`.
dns_ns() {
	{ ws_on "$1" status dns --json 2>/dev/null || true; } | jq -r '.serving[]?' | sed 's/:53$//' | grep -E '^10\.3[2-9]\.' | head -1
}
declare -A NS=()
# router_lookup HOST NAME: NAME's IPv4 addresses as HOST's router's DNS
# answers them, asked from the host itself.
router_lookup() {
	on_host "$1" busybox nslookup -type=a "$2" "${NS[$1]}" 2>&1 | awk '/^Name:/ { a = 1 } a && /^Address:/ { print $2 }' | sort
}
# gone_ms HOST NAME T0 SECONDS: wait until HOST's router answers NXDOMAIN
# for NAME, at most SECONDS; print the milliseconds since T0 (date +%s%N).
gone_ms() {
	local out
	for _ in $(seq $(($4 * 50))); do
		out=$(on_host "$1" busybox nslookup -type=a "$2" "${NS[$1]}" 2>&1) || true
		if grep -q NXDOMAIN <<<"$out"; then
			echo $((($(date +%s%N) - $3) / 1000000))
			return 0
		fi
		sleep 0.02
	done
	echo "$2 still answered by $1 after $4 s: $out" >&2
	return 1
}
# rm_unnames DK HOST CONTAINER NAME: NAME is known to both routers,
# `docker rm -f CONTAINER` (DK: dk or pdk) and both answer NXDOMAIN for it
# within 30 s; GONE says after how long on each host.
GONE=
rm_unnames() {
	local x t0 a back rc=0
	for x in h1 h2; do
		[ -n "$(router_lookup "$x" "$4")" ] || { echo "$4 is not known to $x's router before the rm"; return 1; }
	done
	t0=$(date +%s%N)
	"$1" "$2" rm -f "$3" >/dev/null || return 1
	back=$((($(date +%s%N) - t0) / 1000000))
	gone_ms h1 "$4" "$t0" 30 >"$WS_TMP/gone.h1" &
	a=$!
	gone_ms h2 "$4" "$t0" 30 >"$WS_TMP/gone.h2" || rc=1
	wait "$a" || rc=1
	GONE="from h1's router $(cat "$WS_TMP/gone.h1") ms, from h2's $(cat "$WS_TMP/gone.h2") ms after docker rm was sent (it returned after $back ms)"
	echo "gone: $GONE"
	return $rc
}
# dns_owner HOST NAME OWNER: `status dns` on HOST lists NAME.weave.local.
# with owner OWNER (peer(nickname)).
dns_owner() {
	local out
	out=$(ws_on "$1" status dns) || return 1
	echo "$out"
	awk -v n="$2.weave.local." -v o="$3" '$1 == n && $3 == o { f = 1 } END { exit !f }' <<<"$out"
}

pretty "two hosts (network + mount namespaces) on one underlay bridge"
dh_lan "$p-lan"
dh_add h1 "$p-h1" 1
dh_add h2 "$p-h2" 2
dh_rootfs

pretty "an upstream resolver (dnsmasq) in its own namespace on the underlay, each host's resolv.conf"
# It knows fwd-ID.test and answers NXDOMAIN for every other name under
# test.; each host's /etc/resolv.conf names it, so that names outside
# weave.local go from the routers' DNS to it and nowhere else.
UP=198.18.0.53 FWD=fwd-$WS_ID.test FWD_ADDR=192.0.2.77
ns_add "$p-up"
ip link add eth0 netns "$p-up" type veth peer name ups netns "$p-lan"
ip -n "$p-lan" link set dev ups master lan up
ip -n "$p-up" addr add "$UP/24" dev eth0
ip -n "$p-up" link set eth0 up
ip netns exec "$p-up" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv --no-hosts --pid-file --user=root \
	--listen-address="$UP" --bind-interfaces --local=/test/ --address="/$FWD/$FWD_ADDR" --log-queries --log-facility=- \
	>"$WS_TMP/upstream-dnsmasq.log" 2>&1 &
UP_PID=$!
WS_PIDS+=("$UP_PID")
echo "nameserver $UP" >"$WS_TMP/resolv.conf"
dh_resolv h1 "$WS_TMP/resolv.conf"
dh_resolv h2 "$WS_TMP/resolv.conf"

pretty "starting dockerd on each host"
dh_dockerd h1 1
dh_dockerd h2 2
dh_dockerd_wait h1 || fail "no dockerd on h1"
dh_dockerd_wait h2 || fail "no dockerd on h2"
ws_check "dockerd runs on both hosts ($(dk h1 version -f 'server {{.Server.Version}}, API {{.Server.APIVersion}}'))" \
	bash -c "[ -S $WS_TMP/h1/docker.sock ] && [ -S $WS_TMP/h2/docker.sock ]"
ws_check "each dockerd's docker0 is in its host's namespace" \
	bash -c "ip -n $p-h1 link show docker0 >/dev/null && ip -n $p-h2 link show docker0 >/dev/null"
import_both() { dh_image h1 & local a=$!; dh_image h2; wait "$a"; }
ws_check "busybox image imported into both dockerd (no registry)" import_both
ws_check "dockerd's key file went to the host's private /etc/docker" on_host h1 test -s /etc/docker/key.json
ws_check "a container runs from it" output_is ok dk h1 run --rm "$IMG" echo ok

pretty "starting a router on each host"
export WEAVE_SWITCH_PASSWORD=docker-test-$WS_ID
n1=02:00:00:00:0d:01 n2=02:00:00:00:0d:02
seeds=(--ipalloc-seed "$n1" --ipalloc-seed "$n2" --datapath "${WS_DATAPATH:-userspace}")
dh_router_start h1 --name "$n1" --nickname h1 --listen 198.18.0.1:6783 --peer 198.18.0.2 "${seeds[@]}"
dh_router_start h2 --name "$n2" --nickname h2 --listen 198.18.0.2:6783 --peer 198.18.0.1 "${seeds[@]}"
dh_router_wait h1 || fail "no router on h1"
dh_router_wait h2 || fail "no router on h2"
ws_check "h1's router connects to h2's, allocator ready" dh_wait_links h1 1
ws_check "h2's router connects to h1's, allocator ready" dh_wait_links h2 1

pretty "weave-switch attach by the PID of a container started on docker0"
dk h1 run -d --name "$p-a1" "$IMG" sleep 3600 >/dev/null
dk h2 run -d --name "$p-a2" "$IMG" sleep 3600 >/dev/null
ws_check "attach PID of a docker container (h1)" ws_on h1 attach "$(cpid h1 "$p-a1")"
ws_check "attach PID of a docker container (h2)" ws_on h2 attach "$(cpid h2 "$p-a2")"
a1=$(caddr h1 "$p-a1" || true) a2=$(caddr h2 "$p-a2" || true)
ws_check "attached containers got addresses ($a1, $a2)" bash -c "[ -n '$a1' ] && [ -n '$a2' ]"
ws_check "attached containers ping each other across hosts" retry 3 cping h1 "$p-a1" "$a2"
ws_check "detach by container name" ws_on h2 detach "$p-a2"
ws_check "the detached container has no weave address" no_weave_addr h2 "$p-a2"
ws_check "attach by container name" ws_on h2 attach "$p-a2"
a2=$(caddr h2 "$p-a2" || true)
attachments_name() {
	local id out
	id=$(dk h2 inspect -f '{{.Id}}' "$p-a2") || return 1
	out=$(ws_on h2 status attachments) || return 1
	echo "$out"
	grep -q -e "$p-a2" -e "${id:0:12}" <<<"$out"
}
ws_check "status attachments names the container" attachments_name
ws_check "a1 pings a2 attached by name ($a2)" retry 3 cping h1 "$p-a1" "$a2"

pretty "the network weave: plain docker run --network weave"
weave_net() { dk "$1" network inspect -f '{{.Driver}}' weave | grep -qx weave-switch; }
ws_check "the router created the network weave (driver weave-switch) on h1" retry 40 weave_net h1
ws_check "the router created the network weave (driver weave-switch) on h2" retry 10 weave_net h2
ws_check "docker run --network weave on h1" dk h1 run -d --name "$p-w1" --network weave "$IMG" sleep 3600
ws_check "docker run --network weave on h2" dk h2 run -d --name "$p-w2" --network weave "$IMG" sleep 3600
w1=$(caddr h1 "$p-w1" || true) w2=$(caddr h2 "$p-w2" || true)
ws_check "w1 and w2 got addresses of the default subnet 10.32.0.0/13 ($w1, $w2)" \
	bash -c "[ -n '$w1' ] && [ -n '$w2' ] && [ '$w1' != '$w2' ] && grep -qE '^10\.3[2-9]\.' <<<'$w1 $w2'"
ws_check "docker inspect shows the same address" \
	output_is "$w1" dk h1 inspect -f '{{(index .NetworkSettings.Networks "weave").IPAddress}}' "$p-w1"
ws_check "the container's interface is ethwe*, its default route goes through it" gateway_on_ethwe h1 "$p-w1"
ws_check "no docker_gwbridge was made" bash -c "! ip -n $p-h1 link show docker_gwbridge 2>/dev/null"
ws_check "ping w1 -> w2 across hosts" retry 3 cping h1 "$p-w1" "$w2"
ws_check "ping w2 -> w1 across hosts" cping h2 "$p-w2" "$w1"
echo_server dk h2 "$p-w2" || true
ws_check "TCP w1 -> w2 across hosts (nc echo)" retry 6 tcp_echo h1 "$p-w1" "$w2"

pretty "docker network connect / disconnect"
dk h1 run -d --name "$p-c1" "$IMG" sleep 3600 >/dev/null
ws_check "docker network connect weave" dk h1 network connect weave "$p-c1"
c1=$(caddr h1 "$p-c1" || true)
ws_check "the connected container got a weave address ($c1)" in_subnet "$c1" '^10\.3[2-9]\.'
ws_check "it pings w2 across hosts" retry 3 cping h1 "$p-c1" "$w2"
ws_check "it pings w1 on the same host" cping h1 "$p-c1" "$w1"
ws_check "docker network disconnect weave" dk h1 network disconnect weave "$p-c1"
disconnected() { [ -n "$c1" ] || { echo "it never had one"; return 1; }; no_weave_addr h1 "$p-c1"; }
ws_check "the disconnected container has no weave address" disconnected
ws_check "its address $c1 is released" retry 10 ipam_free h1 "$c1"

pretty "a network of its own subnet is isolated from weave"
iso=$p-iso
ws_check "docker network create -d weave-switch --ipam-driver weave-switch --subnet 10.44.200.0/24 (h1)" \
	dk h1 network create -d weave-switch --ipam-driver weave-switch --subnet 10.44.200.0/24 "$iso"
ws_check "the same on h2" dk h2 network create -d weave-switch --ipam-driver weave-switch --subnet 10.44.200.0/24 "$iso"
dk h1 run -d --name "$p-i1" --network "$iso" "$IMG" sleep 3600 >/dev/null || true
dk h2 run -d --name "$p-i2" --network "$iso" "$IMG" sleep 3600 >/dev/null || true
i1=$(caddr h1 "$p-i1" || true) i2=$(caddr h2 "$p-i2" || true)
ws_check "its containers got addresses in 10.44.200.0/24 ($i1, $i2)" \
	bash -c "grep -q '^10\.44\.200\.' <<<'$i1' && grep -q '^10\.44\.200\.' <<<'$i2'"
ws_check "its containers ping each other across hosts" retry 3 cping h1 "$p-i1" "$i2"
ws_check "i1 does not reach w2 (network weave)" no_ping h1 "$p-i1" "$w2"
ws_check "w1 does not reach i2" no_ping h1 "$p-w1" "$i2"

pretty "the Docker API proxy: eval \$(weave-switch env)"
declare -A PX=()
for h in h1 h2; do
	PX[$h]=$(ws_on "$h" env 2>/dev/null | sed -n "s/^export DOCKER_HOST=\([^ ;]*\).*/\1/p" | tr -d "'\"" || true)
done
# pdk HOST ARGS...: the docker CLI through HOST's proxy.
pdk() {
	local h=$1; shift
	[ -n "${PX[$h]}" ] || { echo "no proxy address from 'weave-switch env' on $h" >&2; return 1; }
	timeout "${DK_TIMEOUT:-60}" nsenter --mount="/proc/${DH_MNT[$h]}/ns/mnt" --net="/run/netns/${DH_NS[$h]}" \
		env DOCKER_HOST="${PX[$h]}" docker "$@"
}
ws_check "weave-switch env prints export DOCKER_HOST=unix://… (${PX[h1]:-nothing})" bash -c "[[ '${PX[h1]}' == unix://* ]]"
ws_check "the proxy answers docker version" pdk h1 version
ws_check "eval \$(weave-switch env); docker run -e WEAVE_CIDR=10.32.1.5/12 (h1)" on_host h1 bash -c \
	"eval \"\$('$WS_BIN' env)\" && timeout 60 docker run -d -e WEAVE_CIDR=10.32.1.5/12 --name $p-p1 $IMG sleep 3600"
ws_check "docker run -e WEAVE_CIDR=10.32.2.6/12 through the proxy (h2)" pdk h2 run -d -e WEAVE_CIDR=10.32.2.6/12 --name "$p-p2" "$IMG" sleep 3600
ws_check "p1 has 10.32.1.5" has_ip h1 "$p-p1" 10.32.1.5
ws_check "p2 has 10.32.2.6" has_ip h2 "$p-p2" 10.32.2.6
early=$(pdk h1 run --rm -e WEAVE_CIDR=10.32.1.9/12 "$IMG" ip -4 -o addr 2>&1 || true)
early_addr() { echo "$early"; grep -q 'inet 10\.32\.1\.9/' <<<"$early"; }
ws_check "the address is there when the container's process starts" early_addr
ws_check "ping p1 -> p2 across hosts" retry 3 cping h1 "$p-p1" 10.32.2.6
echo_server pdk h2 "$p-p2" || true
ws_check "TCP p1 -> p2 across hosts (nc echo)" retry 6 tcp_echo h1 "$p-p1" 10.32.2.6
ws_check "the allocator holds 10.32.1.5 under docker:<p1's ID>" \
	ipam_held h1 "docker:$(dk h1 inspect -f '{{.Id}}' "$p-p1" 2>/dev/null)" 10.32.1.5
ws_check "docker run without WEAVE_CIDR through the proxy (h1)" pdk h1 run -d --name "$p-p3" "$IMG" sleep 3600
p3=$(caddr h1 "$p-p3" || true)
ws_check "p3 got an automatic address in the default subnet 10.32.0.0/13 ($p3)" in_subnet "$p3" '^10\.3[2-9]\.'
ws_check "p3 (proxy) pings w2 (plugin) across hosts" retry 3 cping h1 "$p-p3" "$w2"
ws_check "docker run -i: stdin streams through the proxy's attach" \
	output_is "hi-$WS_ID" with_stdin "hi-$WS_ID" pdk h1 run -i --rm "$IMG" cat
ws_check "docker run (attached): the output comes back through the proxy" \
	output_is "out-$WS_ID" pdk h1 run --rm "$IMG" echo "out-$WS_ID"
ws_check "docker exec -i through the proxy" output_is "in-$WS_ID" with_stdin "in-$WS_ID" pdk h1 exec -i "$p-p1" cat
logs_of_run() { pdk h1 run --name "$p-log" "$IMG" echo "log-$WS_ID" >/dev/null && pdk h1 logs "$p-log"; }
ws_check "docker logs through the proxy" output_is "log-$WS_ID" logs_of_run

pretty "addresses follow the container's life"
ws_check "docker restart through the proxy" pdk h1 restart -t 1 "$p-p1"
ws_check "p1 keeps 10.32.1.5 across the restart" retry 10 has_ip h1 "$p-p1" 10.32.1.5
ws_check "p1 pings p2 after the restart" retry 3 cping h1 "$p-p1" 10.32.2.6
stop_start() { pdk "$1" stop -t 1 "$2" && pdk "$1" start "$2"; }
ws_check "docker stop, docker start of p3 through the proxy" stop_start h1 "$p-p3"
ws_check "p3 keeps its automatic address $p3 across stop and start" retry 10 has_ip h1 "$p-p3" "$p3"
ws_check "docker rm -f p1 through the proxy: 10.32.1.5 is released within 30 s" rm_releases pdk h1 "$p-p1" 10.32.1.5
pretty "  released ${RELEASED_AFTER:-?} s after docker rm was sent"
ws_check "a new container gets 10.32.1.5 back" pdk h1 run -d -e WEAVE_CIDR=10.32.1.5/12 --name "$p-p4" "$IMG" sleep 3600
ws_check "p4 has 10.32.1.5" has_ip h1 "$p-p4" 10.32.1.5
ws_check "p4 pings p2" retry 3 cping h1 "$p-p4" 10.32.2.6
early_released() {
	grep -q 'inet 10\.32\.1\.9/' <<<"$early" || { echo "the --rm container never had 10.32.1.9"; return 1; }
	released_within h1 10.32.1.9 30
}
ws_check "the --rm container's 10.32.1.9 is released within 30 s of its end" early_released

pretty "router restarts while containers run"
snap_addrs() {
	local c
	for c in "$p-w1" "$p-p3" "$p-p4"; do echo "$c $(caddrs h1 "$c" | tr '\n' ' ')"; done
	for c in "$p-w2" "$p-p2"; do echo "$c $(caddrs h2 "$c" | tr '\n' ' ')"; done
}
before=$(snap_addrs 2>/dev/null || true)
# same_addrs: every container still has the addresses it had before the
# restarts (and had some).
same_addrs() {
	local now
	now=$(snap_addrs 2>/dev/null)
	printf 'before:\n%s\nnow:\n%s\n' "$before" "$now"
	[ "$now" = "$before" ] && ! grep -qE '^[^ ]+ $' <<<"$before"
}
ws_check "h1's router stops (SIGTERM) and starts again with its data dir" dh_router_restart h1 TERM
ws_check "h1 meshes again" dh_wait_links h1 1
ws_check "containers keep their addresses across h1's restart" same_addrs
ws_check "w1 -> w2 after h1's restart" retry 6 cping h1 "$p-w1" "$w2"
ws_check "p4 -> p2 after h1's restart" retry 3 cping h1 "$p-p4" 10.32.2.6
ws_check "p3 -> w2 after h1's restart" retry 3 cping h1 "$p-p3" "$w2"
ws_check "the allocator still holds p4's address" ipam_held h1 "docker:$(dk h1 inspect -f '{{.Id}}' "$p-p4" 2>/dev/null)" 10.32.1.5
ws_check "h1's container p4 resolves by name on h2 after h1's restart" retry 10 resolves h2 "$p-p2" "$p-p4.weave.local" 10.32.1.5
ws_check "h2's router is killed (SIGKILL) and starts again with its data dir" dh_router_restart h2 KILL
ws_check "h2 meshes again" dh_wait_links h2 1
ws_check "containers keep their addresses across h2's restart" same_addrs
ws_check "w2 -> w1 after h2's restart" retry 6 cping h2 "$p-w2" "$w1"
ws_check "p2 -> p4 after h2's restart" retry 3 cping h2 "$p-p2" 10.32.1.5
ws_check "h2's container p2 resolves by name on h1 after h2's restart (SIGKILL)" retry 10 resolves h1 "$p-p4" "$p-p2.weave.local" 10.32.2.6
ws_check "a new container on weave after the restarts" dk h2 run -d --name "$p-w3" --network weave "$IMG" sleep 3600
ws_check "it pings w1" retry 3 cping h2 "$p-w3" "$w1"

pretty "a second network on the default subnet"
# Docker asks the IPAM driver for a pool again and again while the one it
# gets overlaps a network's: the driver must make the network or refuse it.
second_default() {
	local rc=0
	DK_TIMEOUT=20 dk h1 network create -d weave-switch --ipam-driver weave-switch "$p-dflt" || rc=$?
	echo "exit status $rc"
	[ "$rc" -ne 124 ]
}
ws_check "docker network create -d weave-switch without --subnet, beside weave, answers within 20 s" second_default
dk h1 network rm "$p-dflt" >/dev/null 2>&1 || true

pretty "the managed (v2) plugin"
PLUGIN_DIR=${WS_DOCKER_PLUGIN_DIR:-$PWD/build/docker-plugin}
v2=weave-switch/net:t$WS_ID
ws_check "make docker-plugin builds the plugin's directory ($PLUGIN_DIR)" \
	bash -c "make -s docker-plugin && [ -f $PLUGIN_DIR/config.json ] && [ -d $PLUGIN_DIR/rootfs ]"
ws_check "docker plugin create $v2 from it" dk h1 plugin create "$v2" "$PLUGIN_DIR"
ws_check "docker plugin enable $v2" dk h1 plugin enable "$v2"
ws_check "docker network create -d $v2 --ipam-driver $v2 --subnet 10.44.201.0/24" \
	dk h1 network create -d "$v2" --ipam-driver "$v2" --subnet 10.44.201.0/24 "$p-v2"
ws_check "docker run --network on the managed plugin's network" dk h1 run -d --name "$p-v1" --network "$p-v2" "$IMG" sleep 3600
v1=$(caddr h1 "$p-v1" || true)
ws_check "it got an address of 10.44.201.0/24 ($v1)" in_subnet "$v1" '^10\.44\.201\.'
dk h2 network create -d weave-switch --ipam-driver weave-switch --subnet 10.44.201.0/24 "$p-v2" >/dev/null || true
dk h2 run -d --name "$p-v3" --network "$p-v2" "$IMG" sleep 3600 >/dev/null || true
v3=$(caddr h2 "$p-v3" || true)
ws_check "it pings a container of the same subnet on h2 (socket plugin there, $v3)" retry 3 cping h1 "$p-v1" "$v3"
cleanup_v2() { dk h1 rm -f "$p-v1" && dk h1 network rm "$p-v2" && dk h1 plugin disable "$v2" && dk h1 plugin rm "$v2"; }
ws_check "docker rm, network rm, plugin disable and rm" cleanup_v2
ws_check "its address $v1 is released" retry 10 ipam_free h1 "$v1"

pretty "docker rm of a container holding its address under its own key"
ws_check "the allocator holds p3's automatic $p3 under docker:<p3's ID>" \
	ipam_held h1 "docker:$(dk h1 inspect -f '{{.Id}}' "$p-p3" 2>/dev/null)" "$p3"
ws_check "docker rm -f p3 through the proxy: $p3 is released within 30 s" rm_releases pdk h1 "$p-p3" "$p3"
pretty "  released ${RELEASED_AFTER:-?} s after docker rm was sent"

pretty "finding containers by name: the routers' DNS"
NS[h1]=$(dns_ns h1) NS[h2]=$(dns_ns h2)
ws_check "each router serves DNS on its bridge address in the default subnet (h1 ${NS[h1]:-none}, h2 ${NS[h2]:-none})" \
	bash -c "[ -n '${NS[h1]}' ] && [ -n '${NS[h2]}' ]"
upstreams() { ws_on "$1" status dns --json | jq -e --arg u "$UP:53" '.upstreams == [$u]'; }
ws_check "h1's router forwards to the test's upstream only ($UP)" upstreams h1
ws_check "so does h2's" upstreams h2
ws_check "the proxy gave p4 (h1) the router's DNS: --dns ${NS[h1]} --dns-search weave.local" \
	output_is "[${NS[h1]}] [weave.local]" dk h1 inspect -f '{{.HostConfig.Dns}} {{.HostConfig.DnsSearch}}' "$p-p4"
# On a user-defined network (weave) Docker writes its embedded resolver
# (127.0.0.11) into the container's resolv.conf; it forwards the names it
# does not know itself to the --dns server the proxy set.
embedded_resolver() {
	local rc
	rc=$(dk "$1" exec "$2" cat /etc/resolv.conf) || return 1
	echo "$rc"
	grep -qx 'nameserver 127.0.0.11' <<<"$rc" && grep -qx 'search weave.local' <<<"$rc"
}
ws_check "p4's resolv.conf: Docker's embedded resolver, search weave.local" embedded_resolver h1 "$p-p4"
w2=$(caddr h2 "$p-w2" || true)
ws_check "p4 (proxy, h1) resolves p2 (proxy, h2) by name" retry 10 resolves h1 "$p-p4" "$p-p2.weave.local" 10.32.2.6
ws_check "p4 (proxy, h1) resolves w2 (plain --network weave, h2) by name" retry 10 resolves h1 "$p-p4" "$p-w2.weave.local" "$w2"
bare_name() { local out; out=$(dk h1 exec "$p-p4" ping -c 1 -W 2 "$p-p2" 2>&1); echo "$out"; grep -qF "PING $p-p2 (10.32.2.6)" <<<"$out"; }
ws_check "p4 pings p2 by its bare name (search domain, the C library's resolver)" retry 6 bare_name
ws_check "docker run --network weave --dns ${NS[h2]} --dns-search weave.local n2 (h2)" \
	dk h2 run -d --name "$p-n2" --network weave --dns "${NS[h2]}" --dns-search weave.local "$IMG" sleep 3600
d2=$(caddr h2 "$p-n2" || true) w1=$(caddr h1 "$p-w1" || true)
ws_check "n2's resolv.conf: Docker's embedded resolver, search weave.local" embedded_resolver h2 "$p-n2"
ws_check "n2 (plain, h2) resolves p4 (proxy, h1) by name" retry 10 resolves h2 "$p-n2" "$p-p4.weave.local" 10.32.1.5
ws_check "n2 (plain, h2) resolves w1 (plain, h1) by name" retry 10 resolves h2 "$p-n2" "$p-w1.weave.local" "$w1"
ws_check "p4 (proxy, h1) resolves n2 (plain, h2) by name ($d2)" retry 10 resolves h1 "$p-p4" "$p-n2.weave.local" "$d2"
ws_check "status dns on h1 lists p2 owned by h2's router" dns_owner h1 "$p-p2" "$n2(h2)"
ws_check "status dns on h1 lists p4 owned by h1's router" dns_owner h1 "$p-p4" "$n1(h1)"
ws_check "status dns on h2 lists p4 owned by h1's router" dns_owner h2 "$p-p4" "$n1(h1)"

pretty "several containers under one name"
# Docker's embedded resolver answers the names of its own containers on
# the same network itself (container name, aliases, hostname) and
# forwards only the others: a shared name is asked from the other host.
lb=$p-lb.weave.local
ws_check "docker run --hostname $lb through the proxy (h2)" pdk h2 run -d --name "$p-lb1" --hostname "$lb" "$IMG" sleep 3600
ws_check "docker run --network weave --hostname $lb (h2)" dk h2 run -d --name "$p-lb2" --network weave --hostname "$lb" "$IMG" sleep 3600
lb1=$(caddr h2 "$p-lb1" || true) lb2=$(caddr h2 "$p-lb2" || true)
ws_check "p4 (h1) gets both containers' addresses for $lb ($lb1 $lb2)" retry 10 resolves h1 "$p-p4" "$lb" "$lb1" "$lb2"
router_answers() { local h=$1 n=$2 want got; shift 2; want=$(printf '%s\n' "$@" | sort); got=$(router_lookup "$h" "$n"); echo "got: $(echo $got)"; [ "$got" = "$want" ]; }
ws_check "h1's router answers both" retry 10 router_answers h1 "$lb" "$lb1" "$lb2"
ws_check "h2's router answers both" retry 10 router_answers h2 "$lb" "$lb1" "$lb2"
ws_check "weave-switch dns-add $w1 $p-lb (h1)" ws_on h1 dns-add "$w1" "$p-lb"
ws_check "p4 (h1) gets the three addresses for $lb" retry 10 resolves h1 "$p-p4" "$lb" "$lb1" "$lb2" "$w1"
ws_check "h2's router answers the three" retry 10 router_answers h2 "$lb" "$lb1" "$lb2" "$w1"
ws_check "weave-switch dns-remove $w1 $p-lb (h1)" ws_on h1 dns-remove "$w1" "$p-lb"
ws_check "h2's router answers the two containers again" retry 10 router_answers h2 "$lb" "$lb1" "$lb2"
ws_check "docker stop lb2 (plain, h2)" dk h2 stop -t 1 "$p-lb2"
ws_check "$lb answers lb1 alone on h1" retry 10 resolves h1 "$p-p4" "$lb" "$lb1"
ws_check "docker start lb2" dk h2 start "$p-lb2"
lb2=$(caddr h2 "$p-lb2" || true)
ws_check "$lb answers both again on h1 (lb2 now $lb2)" retry 10 resolves h1 "$p-p4" "$lb" "$lb1" "$lb2"

pretty "names outside weave.local go to the upstream"
ws_check "p4 (proxy, h1) resolves $FWD through the upstream ($FWD_ADDR)" retry 6 resolves h1 "$p-p4" "$FWD" "$FWD_ADDR"
ws_check "n2 (plain, h2) resolves $FWD through the upstream" retry 6 resolves h2 "$p-n2" "$FWD" "$FWD_ADDR"
ws_check "a name the upstream does not know fails cleanly in p4 (NXDOMAIN)" nxdomain h1 "$p-p4" "nope-$WS_ID.test"
ws_check "an unknown name in weave.local fails cleanly in n2 (NXDOMAIN)" nxdomain h2 "$p-n2" "nope-$WS_ID.weave.local"
upstream_asked() { grep -F "query[A] $FWD from" "$WS_TMP/upstream-dnsmasq.log"; }
ws_check "the upstream's log shows the forwarded query" upstream_asked
# upstream_down: stop the upstream; a forwarded name then gets an error
# answer in p4, not a time-out.
upstream_down() {
	local out pid keep=()
	kill -TERM "$UP_PID" 2>/dev/null || true
	wait "$UP_PID" 2>/dev/null || true
	for pid in "${WS_PIDS[@]}"; do [ "$pid" = "$UP_PID" ] || keep+=("$pid"); done
	WS_PIDS=("${keep[@]}")
	out=$(dk h1 exec "$p-p4" nslookup -type=a "$FWD" 2>&1) || true
	echo "$out"
	grep -qE "can't find $FWD: (SERVFAIL|REFUSED)" <<<"$out" && ! grep -q 'timed out' <<<"$out"
}
ws_check "with the upstream stopped, $FWD fails cleanly in p4 (SERVFAIL, not a time-out)" upstream_down

pretty "names follow the container's life"
# A plain --network weave container gets a new address when it starts
# again (dockerd releases it on stop and asks for one on start, with no
# container ID); its name follows.
ws_check "docker restart n2 (plain, h2)" dk h2 restart -t 1 "$p-n2"
d2=$(caddr h2 "$p-n2" || true)
ws_check "n2 resolves on h1 after its restart, to its address now ($d2)" retry 10 resolves h1 "$p-p4" "$p-n2.weave.local" "$d2"
ws_check "docker restart lb1 through the proxy (h2)" pdk h2 restart -t 1 "$p-lb1"
ws_check "lb1 keeps its address $lb1" retry 10 has_ip h2 "$p-lb1" "$lb1"
ws_check "$lb answers both on h1 after lb1's restart" retry 10 resolves h1 "$p-p4" "$lb" "$lb1" "$lb2"
ws_check "docker rm -f n2 (plain, h2): its name is gone from both routers within 30 s" rm_unnames dk h2 "$p-n2" "$p-n2.weave.local"
pretty "  n2 (rm on h2): name gone ${GONE:-?}"
ws_check "p4 no longer resolves n2" retry 6 nxdomain h1 "$p-p4" "$p-n2.weave.local"
ws_check "docker rm -f lb1 through the proxy (h2): its names are gone from both routers within 30 s" rm_unnames pdk h2 "$p-lb1" "$p-lb1.weave.local"
pretty "  lb1 (rm on h2): name gone ${GONE:-?}"
ws_check "$lb answers lb2 alone on h1" retry 10 resolves h1 "$p-p4" "$lb" "$lb2"
ws_check "docker rm -f p4 through the proxy (h1): its name is gone from both routers within 30 s" rm_unnames pdk h1 "$p-p4" "$p-p4.weave.local"
pretty "  p4 (rm on h1): name gone ${GONE:-?}"

[ $WS_FAILED -eq 0 ]
