# Shared helpers for the namespace scripts (netns-test.sh, demo.sh,
# bench/run.sh). Source it; it defines no traps of its own.
#
# Every name made here carries the run id $WS_ID, so parallel runs cannot
# collide, and is recorded so that ws_cleanup removes exactly what this run
# made: processes by PID, namespaces by name.

WS_ID=${WS_ID:-$$}
WS_TMP=${WS_TMP:-$(mktemp -d "/tmp/ws-$WS_ID.XXXX")}
WS_BIN=${WEAVE_SWITCH_BIN:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/bin/weave-switch}
WS_PIDS=()
WS_NETNS=()

pretty() { printf '\033[1;32m[%s]\033[0m %s\n' "$(date +%T)" "$*" >&2; }
fail() { printf '\033[1;31m[%s] FAIL:\033[0m %s\n' "$(date +%T)" "$*" >&2; exit 1; }

# ns NAME: create namespace NAME with lo up, remembered for cleanup.
ns_add() {
	ip netns add "$1"
	WS_NETNS+=("$1")
	ip -n "$1" link set lo up
}

# in NS CMD...: run CMD in namespace NS.
in_ns() { local n=$1; shift; ip netns exec "$n" "$@"; }

# wait_listen NS PORT: wait (up to 10 s) until a TCP socket listens on PORT
# in namespace NS, for a server just started in the background (iperf3 -D
# returns before it listens).
wait_listen() {
	for _ in $(seq 100); do
		ip netns exec "$1" ss -Hltn "sport = :$2" | grep -q . && return 0
		sleep 0.1
	done
	echo "nothing listens on TCP port $2 in $1 after 10 s" >&2
	return 1
}

# link_ns A B IFA IFB ADDRA ADDRB: veth between namespaces A and B.
link_ns() {
	ip link add "$3" netns "$1" type veth peer name "$4" netns "$2"
	ip -n "$1" addr add "$5" dev "$3"
	ip -n "$2" addr add "$6" dev "$4"
	ip -n "$1" link set "$3" up
	ip -n "$2" link set "$4" up
}
# vxlan_pair P: the kernel's own overlay between hosts P-h1 and P-h2
# (underlay 198.18.0.1 and .2, already linked): a vxlan (VNI 42, UDP
# 4789) bridged on each host to a container, P-x1 and P-x2 (10.99.0.1 and
# .2/24, MTU 1450), with a static FDB: like the fast path, no
# flood-and-learn on the underlay.
vxlan_pair() {
	local i h c other mac l
	for i in 1 2; do
		h=$1-h$i c=$1-x$i other=$((3 - i))
		ns_add "$c"
		ip -n "$h" link add vx42 type vxlan id 42 local "198.18.0.$i" remote "198.18.0.$other" dstport 4789 nolearning
		ip -n "$h" link add bx type bridge
		ip -n "$h" link set vx42 master bx
		ip link add eth0 netns "$c" type veth peer name vx-c netns "$h"
		ip -n "$h" link set vx-c master bx
		ip -n "$h" link set vx-c mtu 1450
		ip -n "$c" link set eth0 mtu 1450
		ip -n "$c" addr add "10.99.0.$i/24" dev eth0
		for l in vx42 bx vx-c; do ip -n "$h" link set "$l" up; done
		ip -n "$c" link set eth0 up
	done
	for i in 1 2; do
		other=$((3 - i))
		mac=$(ip -n "$1-x$other" -j link show eth0 | jq -r '.[0].address')
		bridge -n "$1-h$i" fdb append "$mac" dev vx42 dst "198.18.0.$other" self permanent
	done
}
# insecure prints --insecure if $WS_BIN knows the flag (builds before it
# ran without a secret when given none). The help is read whole first:
# with pipefail, `grep -q` quitting at the match would fail the pipeline
# while the help was still being written.
insecure() {
	local help
	help=$("$WS_BIN" up --help 2>&1)
	grep -q -- '--insecure' <<<"$help" && echo --insecure || true
}

# router_up NS NAME LOG [up flags...]: start `weave-switch up` in NS, wait
# for its API, remember its PID. The API socket is $WS_TMP/NAME.sock.
# Unless the flags say --datapath, the router uses $WS_DATAPATH, by default
# userspace: these scripts test and measure the userspace transports; the
# kernel fast path has its own (netns-fastpath-test.sh, bench fastpath-vxlan).
router_up() {
	local n=$1 name=$2 log=$3; shift 3
	local dp=(--datapath "${WS_DATAPATH:-userspace}") a
	for a in "$@"; do [ "$a" = --datapath ] && dp=(); done
	# Routers in namespaces share one file system: the Docker plugin and
	# proxy sockets, whose paths are fixed, are only for suites that say
	# WS_DOCKER=1 and give each router a mount namespace of its own. DNS
	# is for the suites that say WS_DNS=1.
	local help
	help=$("$WS_BIN" up --help 2>&1)
	if [ -z "${WS_DOCKER:-}" ] && grep -q -- --no-docker <<<"$help"; then
		dp+=(--no-docker)
	fi
	if [ -z "${WS_DNS:-}" ] && grep -q -- --no-dns <<<"$help"; then
		dp+=(--no-dns)
	fi
	# WS_TASKSET=CPUS starts the router pinned to those CPUs (taskset -c),
	# so its runtime sizes itself for them from the start.
	# WS_WRAP, if set, is a command the router runs under inside its
	# namespace (memcg's, say).
	${WS_TASKSET:+taskset -c "$WS_TASKSET"} ip netns exec "$n" ${WS_WRAP:+"$WS_WRAP"} "$WS_BIN" up --api "$WS_TMP/$name.sock" --data-dir "$WS_TMP/$name" "${dp[@]}" "$@" >"$log" 2>&1 &
	local pid=$!
	WS_PIDS+=("$pid")
	eval "PID_$name=$pid"
	local rc
	for _ in $(seq 100); do
		# 0: healthy; 3: serving but unhealthy (no link up yet, say).
		rc=0
		"$WS_BIN" status --api "$WS_TMP/$name.sock" >/dev/null 2>&1 || rc=$?
		if [ $rc -eq 0 ] || [ $rc -eq 3 ]; then
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$log" >&2
			fail "router $name exited during start-up"
		fi
		sleep 0.1
	done
	cat "$log" >&2
	fail "router $name did not serve its API within 10 s"
}

# router_down NAME: SIGTERM the router and wait for it.
router_down() {
	local pid
	eval "pid=\${PID_$1:-}"
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		fail "router $1 (pid $pid) did not stop within 10 s of SIGTERM"
	fi
	wait "$pid" 2>/dev/null || true
	eval "PID_$1="
}

ws() { "$WS_BIN" "$@"; }

# wait_links NAME N [SECONDS]: wait until router NAME has N established
# connections (the data path answered) and routes to those neighbours (the
# topology carries the links both ways); fail after SECONDS (default 20).
wait_links() {
	local name=$1 want=$2 secs=${3:-20} got=0 st reach
	for _ in $(seq $((secs * 10))); do
		# status exits 3 while unhealthy: its JSON is what counts.
		st=$("$WS_BIN" status --api "$WS_TMP/$name.sock" --json 2>/dev/null || true)
		[ -n "$st" ] || st='{}'
		got=$(jq '[.connections[]? | select(.state=="established")] | length' <<<"$st" 2>/dev/null || echo 0)
		reach=$(jq '[.connections[]? | select(.state=="established") | .peer] as $n |
			[.peers[]? | select(.reachable and (.name | IN($n[])))] | length' <<<"$st" 2>/dev/null || echo 0)
		[ "$got" -ge "$want" ] && [ "$reach" -ge "$want" ] && return 0
		sleep 0.1
	done
	"$WS_BIN" status connections --api "$WS_TMP/$name.sock" >&2 || true
	fail "router $name has $got established connections after ${secs}s, want $want"
}

ws_cleanup() {
	local pid n
	for pid in "${WS_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${WS_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	for n in "${WS_NETNS[@]}"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
		ip netns del "$n" 2>/dev/null || true
	done
	[ -z "${WS_MEMCG:-}" ] || rmdir "$WS_MEMCG" 2>/dev/null || true
	rm -rf "$WS_TMP"
}

# memcg LIMIT: a memory cgroup of LIMIT bytes for one router, a child of
# this shell's own (cgroup v2's unified hierarchy, else v1's memory one),
# removed by ws_cleanup. Sets WS_MEMCG (its directory here), WS_MEMCG_V
# (1 or 2) and WS_WRAP, the command router_up then runs the router
# under: in the router's namespace it mounts the cgroup file system where
# a container sees it (ip netns exec mounts a /sys without it), moves
# itself into the cgroup and runs the router.
memcg() {
	local rel
	if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
		WS_MEMCG_V=2
		rel=$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)
		WS_MEMCG=/sys/fs/cgroup${rel%/}/ws-$WS_ID
		mkdir "$WS_MEMCG" || return 1
		echo "$1" >"$WS_MEMCG/memory.max" || return 1
	elif [ -d /sys/fs/cgroup/memory ]; then
		WS_MEMCG_V=1
		rel=$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
		WS_MEMCG=/sys/fs/cgroup/memory${rel%/}/ws-$WS_ID
		mkdir "$WS_MEMCG" || return 1
		echo "$1" >"$WS_MEMCG/memory.limit_in_bytes" || return 1
	else
		echo "memcg: no memory cgroup controller here" >&2
		return 1
	fi
	WS_WRAP=$WS_TMP/in-memcg
	cat >"$WS_WRAP" <<-EOF
		#!/bin/sh
		set -e
		if [ $WS_MEMCG_V = 2 ]; then
			mount -t cgroup2 cgroup2 /sys/fs/cgroup
			echo \$\$ >/sys/fs/cgroup${rel%/}/ws-$WS_ID/cgroup.procs
		else
			mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
			mkdir /sys/fs/cgroup/memory
			mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory
			echo \$\$ >/sys/fs/cgroup/memory${rel%/}/ws-$WS_ID/cgroup.procs
		fi
		exec "\$@"
	EOF
	chmod +x "$WS_WRAP"
}

# memcg_report: the cgroup's peak usage, its OOM kills and its anonymous
# and file memory now, as JSON.
memcg_report() {
	local d=$WS_MEMCG
	if [ "$WS_MEMCG_V" = 2 ]; then
		jq -n --argjson limit "$(cat "$d/memory.max")" --argjson peak "$(cat "$d/memory.peak" 2>/dev/null || echo null)" \
			--argjson oom "$(awk '$1 == "oom_kill" {print $2}' "$d/memory.events")" \
			--argjson anon "$(awk '$1 == "anon" {print $2}' "$d/memory.stat")" --argjson file "$(awk '$1 == "file" {print $2}' "$d/memory.stat")" \
			'{cgroup: 2, limit_bytes: $limit, peak_bytes: $peak, oom_kills: $oom, anon_bytes: $anon, file_bytes: $file}'
	else
		local oom fail
		oom=$(awk '$1 == "oom_kill" {print $2}' "$d/memory.oom_control")
		fail=$(cat "$d/memory.failcnt")
		jq -n --argjson limit "$(cat "$d/memory.limit_in_bytes")" --argjson peak "$(cat "$d/memory.max_usage_in_bytes")" \
			--argjson oom "${oom:-0}" --argjson failcnt "${fail:-0}" \
			--argjson anon "$(awk '$1 == "total_rss" {print $2}' "$d/memory.stat")" --argjson file "$(awk '$1 == "total_cache" {print $2}' "$d/memory.stat")" \
			'{cgroup: 1, limit_bytes: $limit, peak_bytes: $peak, oom_kills: $oom, limit_hits: $failcnt, anon_bytes: $anon, file_bytes: $file}'
	fi
}

# neigh_room N: room for N more entries in the kernel's neighbour (ARP)
# table, which is one for all network namespaces (1024 entries at most by
# default, gc_thresh3): raise its thresholds for the run when they are
# lower than N and the 1024 what else runs needs, and put them back at
# exit. Sets the EXIT trap to do that and ws_cleanup.
neigh_room() {
	local neigh=/proc/sys/net/ipv4/neigh/default need=$(($1 + 1024))
	WS_NEIGH_OLD=("$(cat $neigh/gc_thresh2)" "$(cat $neigh/gc_thresh3)")
	if [ "${WS_NEIGH_OLD[1]}" -lt $((2 * need)) ]; then
		echo $((need > WS_NEIGH_OLD[0] ? need : WS_NEIGH_OLD[0])) >$neigh/gc_thresh2
		echo $((2 * need)) >$neigh/gc_thresh3
		trap 'echo "${WS_NEIGH_OLD[0]}" >/proc/sys/net/ipv4/neigh/default/gc_thresh2
			echo "${WS_NEIGH_OLD[1]}" >/proc/sys/net/ipv4/neigh/default/gc_thresh3
			ws_cleanup' EXIT
	fi
}

# The check/report harness of the namespace tests. ws_check runs a command
# and counts it, showing its output only on failure; ws_finish (the EXIT
# trap) shows the routers' logs on failure, cleans up and prints the
# "N passed, M failed" line CI reads.
WS_PASSED=0
WS_FAILED=0
WS_FAILURES=()
ws_check() { # ws_check DESCRIPTION CMD...
	local what=$1; shift
	if "$@" >"$WS_TMP/check.out" 2>&1; then
		WS_PASSED=$((WS_PASSED + 1)); pretty "ok: $what"
	else
		WS_FAILED=$((WS_FAILED + 1)); WS_FAILURES+=("$what"); printf '\033[1;31mFAIL:\033[0m %s\n' "$what" >&2
		sed 's/^/    /' "$WS_TMP/check.out" >&2
	fi
}
ws_finish() { # ws_finish NAME: use as: trap 'ws_finish netns-test' EXIT
	local rc=$? l
	if [ $WS_FAILED -ne 0 ] || [ $rc -ne 0 ]; then
		for l in "$WS_TMP"/*.log; do [ -f "$l" ] && { echo "--- $l" >&2; tail -15 "$l" >&2; }; done
	fi
	ws_cleanup
	echo "$1: $WS_PASSED passed, $WS_FAILED failed"
	for l in "${WS_FAILURES[@]}"; do echo "  failed: $l"; done
	[ $WS_FAILED -eq 0 ] && [ $rc -eq 0 ] || exit 1
}
