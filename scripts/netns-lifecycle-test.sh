#!/usr/bin/env bash
# The router's life as a service, end to end: readiness, reload, down,
# leaving the mesh, reset.
#
#          c1                                   c3
#           |                                    |
#     [h1 router] --.12-- [h2 router] --.23-- [h3 router]
#           \________________.13_______________/
#                 (h1 dials h3 only after SIGHUP)
#
# The three routers seed the allocation ring together, so each owns a
# third of it. h1 runs with a --config file, --no-discovery and a fake
# NOTIFY_SOCKET (a socat listener standing for systemd).
#
# Asserts: h1 sends READY=1 once it serves; SIGHUP applies log-level and
# a peer added to the config file (h1 connects to h3) and sends
# RELOADING=1 then READY=1; `down --leave` on h3 hands its ranges to a
# live peer: h1 and h2 own the whole ring with no rmpeer, and rmpeer of
# h3 is refused as done; plain `down` stops h2 and removes its bridge and
# socket; `reset` on a running h2 leaves and removes everything; after
# h1 is killed with SIGKILL, `reset --data` removes its bridge, veth,
# nft tables, socket and data directory, leaving nothing, and a second
# reset finds nothing to do; a router stopped by reset sends STOPPING=1
# (h2 runs with the notify socket on its second start); with --api-group
# the socket's group may use the API and another user is told how to get
# access, in one line; h3, started in a memory cgroup, sets the Go
# runtime's soft memory limit to 90 % of the cgroup's. Needs
# root; names are unique per run and everything is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-lifecycle-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"
command -v socat >/dev/null || fail "socat missing (scripts/deps.sh installs it)"

trap 'ws_finish netns-lifecycle-test' EXIT

p=wsl-$WS_ID
for h in h1 h2 h3 c1 c3; do ns_add "$p-$h"; done
link_ns "$p-h1" "$p-h2" u12 u21 198.18.12.1/24 198.18.12.2/24
link_ns "$p-h2" "$p-h3" u23 u32 198.18.23.2/24 198.18.23.3/24
link_ns "$p-h1" "$p-h3" u13 u31 198.18.13.1/24 198.18.13.3/24

n1=02:00:00:00:0a:01 n2=02:00:00:00:0a:02 n3=02:00:00:00:0a:03
seeds=(--ipalloc-seed "$n1" --ipalloc-seed "$n2" --ipalloc-seed "$n3")
export WEAVE_SWITCH_PASSWORD=lifecycle-test-secret
on() { local h=$1; shift; "$WS_BIN" "$@" --api "$WS_TMP/$h.sock"; }
export -f on
export WS_BIN WS_TMP

# systemd's side of Type=notify: a datagram socket whose messages go to
# a file.
notify=$WS_TMP/notify.sock
socat -u "UNIX-RECV:$notify" - >"$WS_TMP/notify.out" 2>"$WS_TMP/socat.log" &
WS_PIDS+=("$!")
for _ in $(seq 50); do [ -S "$notify" ] && break; sleep 0.1; done
[ -S "$notify" ] || fail "socat did not make $notify"
# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
	local secs=$1; shift
	for _ in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
	"$@"
}
export -f wait_for

cat >"$WS_TMP/h1.yaml" <<EOF
log-level: info
nickname: h1
peer:
  - 198.18.12.2
EOF
pretty "starting h1 (config file, fake NOTIFY_SOCKET, vxlan fast path), h2 and h3"
NOTIFY_SOCKET=$notify router_up "$p-h1" h1 "$WS_TMP/h1.log" --config "$WS_TMP/h1.yaml" --name $n1 \
	"${seeds[@]}" --no-discovery --datapath vxlan --fastpath-unencrypted
router_up "$p-h2" h2 "$WS_TMP/h2.log" --name $n2 --nickname h2 "${seeds[@]}" --peer 198.18.12.1 --peer 198.18.23.3
# h3 runs in a memory cgroup of 256 MiB, as under a container's memory
# limit or a unit's MemoryMax.
wrap=
if memcg $((256 << 20)); then
	wrap=$WS_WRAP WS_WRAP=
else
	pretty "skip: h3 runs without a memory cgroup: this machine has no memory controller this shell may make a cgroup under"
fi
WS_WRAP=$wrap router_up "$p-h3" h3 "$WS_TMP/h3.log" --name $n3 --nickname h3 "${seeds[@]}" --no-discovery --peer 198.18.23.2
wait_links h1 1
wait_links h2 2
wait_links h3 1

if [ -n "$wrap" ]; then
	ws_check "h3, in a memory cgroup of 256 MiB, set the Go runtime's soft memory limit to 90 % of it" \
		grep -q 'msg="memory limit" go_soft_limit_bytes=241591910$' "$WS_TMP/h3.log"
	ws_check "h3's metrics show that limit" bash -c \
		"curl -s --unix-socket '$WS_TMP/h3.sock' http://x/metrics | grep -qx 'go_gc_gomemlimit_bytes 2.4159191e+08'"
fi
ws_check "h1, with no memory limit, sets none" bash -c "! grep -q 'memory limit' '$WS_TMP/h1.log'"
ws_check "readiness: h1 sent READY=1 to NOTIFY_SOCKET once serving" wait_for 5 grep -q 'READY=1' "$WS_TMP/notify.out"
ws_check "h1 has no link to h3 before the reload (--no-discovery)" \
	bash -c "! on h1 status connections --json | jq -e '.[] | select(.address | startswith(\"198.18.13.3\"))'"

pretty "SIGHUP: log-level debug and peer 198.18.13.3 added to h1's config file"
cat >"$WS_TMP/h1.yaml" <<EOF
log-level: debug
nickname: h1-renamed
peer:
  - 198.18.12.2
  - 198.18.13.3
EOF
kill -HUP "$PID_h1"
ws_check "SIGHUP: h1 sent RELOADING=1 to NOTIFY_SOCKET" wait_for 5 grep -q 'RELOADING=1' "$WS_TMP/notify.out"
ws_check "SIGHUP: h1 set its log level to debug" wait_for 5 grep -q 'log level set.*DEBUG' "$WS_TMP/h1.log"
ws_check "SIGHUP: h1 says a nickname change waits for the next start" grep -q 'next start.*setting=nickname' "$WS_TMP/h1.log"
ws_check "SIGHUP: h1 connected to the peer added to the file" wait_links h1 2
ws_check "SIGHUP: h1 logs at debug level now" wait_for 5 grep -q 'level=DEBUG' "$WS_TMP/h1.log"
ws_check "SIGHUP: h1 is still serving and healthy" on h1 status

pretty "attaching c1 on h1 and c3 on h3"
on h1 attach "$p-c1" >/dev/null
on h3 attach "$p-c3" >/dev/null
a3=$(ip -n "$p-c3" -4 -j addr show ethws | jq -r '.[0].addr_info[0].local')
owned3() { on h1 status ipam --json | jq -r --arg n "$n3" '[.peers[] | select(.name == $n) | .addresses] | add // 0'; }
export n3
export -f owned3
ws_check "h3 owns a third of the ring before it leaves" bash -c '[ "$(owned3)" -gt 0 ]'

pretty "down --leave on h3"
on h3 down --leave >"$WS_TMP/down-h3.out" 2>&1 || { cat "$WS_TMP/down-h3.out" >&2; fail "down --leave on h3"; }
cat "$WS_TMP/down-h3.out" >&2
ws_check "down --leave: h3 named the heir of its ranges" grep -q 'handed this host.s address ranges' "$WS_TMP/down-h3.out"
ws_check "down --leave: h3's process exited" bash -c "! kill -0 $PID_h3 2>/dev/null || grep -q ' Z' /proc/$PID_h3/stat"
ws_check "down --leave: h3's bridge, TAP and socket are gone" \
	bash -c "! ip -n $p-h3 link show weave && ! ip -n $p-h3 link show weave-tap && [ ! -e $WS_TMP/h3.sock ]"
ws_check "leave: h1 sees h3 owning nothing, with no rmpeer" wait_for 10 bash -c '[ "$(owned3)" -eq 0 ]'
ws_check "leave: h1 and h2 own the whole ring (1048576 addresses)" bash -c "
	[ \$(on h1 status ipam --json | jq '[.peers[] | select(.removed | not) | .addresses] | add') -eq 1048576 ] &&
	[ \$(on h2 status ipam --json | jq '[.peers[] | select(.removed | not) | .addresses] | add') -eq 1048576 ]"
ws_check "leave: h3 is a removed member on h2" \
	bash -c "on h2 status ipam --json | jq -e --arg n $n3 '.peers[] | select(.name == \$n) | .removed'"
ws_check "leave: rmpeer of h3 is refused: there is nothing to reclaim" bash -c "! on h1 rmpeer $n3"
ws_check "leave: no address range is held by an unreachable peer" \
	bash -c "! on h1 status 2>&1 | grep -q 'address ranges held by unreachable'"
# h3's old addresses are free in the ring: c3's can be claimed again.
on h1 attach "$p-c3" "$a3/13" >/dev/null
ws_check "leave: h3's container address $a3 is claimed on h1 from the ranges h3 handed over" \
	wait_for 15 bash -c "on h1 status ipam --json | jq -e --arg a $a3 '.allocations[] | select(.addrs | index(\$a))'"
on h1 detach "$p-c3" >/dev/null 2>&1 || true

pretty "plain down on h2"
on h2 down >"$WS_TMP/down-h2.out" 2>&1 || { cat "$WS_TMP/down-h2.out" >&2; fail "down on h2"; }
ws_check "down: h2's process exited" bash -c "! kill -0 $PID_h2 2>/dev/null || grep -q ' Z' /proc/$PID_h2/stat"
ws_check "down: h2's bridge and socket are gone" bash -c "! ip -n $p-h2 link show weave && [ ! -e $WS_TMP/h2.sock ]"
ws_check "down: status then says no router is running" bash -c "on h2 status 2>&1 | grep -q 'no router is running'"
ws_check "status exits non-zero on h1 while h2 is unreachable" bash -c "! on h1 status"

pretty "reset on a running router (h2, started again)"
NOTIFY_SOCKET=$notify router_up "$p-h2" h2 "$WS_TMP/h2b.log" --name $n2 --nickname h2 "${seeds[@]}" --peer 198.18.12.1 \
	--api-group nogroup
wait_links h2 1
# The binary and the sockets must be reachable for other users.
chmod o+x "$WS_TMP"
as() { local u=$1 g=$2; shift 2; setpriv --reuid="$u" --regid="$g" --clear-groups "$@"; }
export -f as
ws_check "--api-group nogroup: the API socket is root:nogroup, mode 0660" \
	bash -c "[ \"\$(stat -c '%G %a' $WS_TMP/h2.sock)\" = 'nogroup 660' ]"
ws_check "--api-group: a member of the group (nobody) may use the API" as nobody nogroup "$WS_BIN" status peers --api "$WS_TMP/h2.sock"
ws_check "another user gets one line naming the fix (run as root or --api-group)" bash -c "
	out=\$(as daemon daemon $WS_BIN status --api $WS_TMP/h2.sock 2>&1); rc=\$?
	echo \"\$out\"; [ \$rc -eq 1 ] && [ \$(echo \"\$out\" | wc -l) -eq 1 ] && echo \"\$out\" | grep -q 'run as root, or add your user to the group given to .up --api-group.'"
chmod o-x "$WS_TMP"
on h2 reset --bridge weave --data-dir "$WS_TMP/h2" --data --proxy-socket "$WS_TMP/h2-proxy.sock" \
	--plugin-socket "$WS_TMP/h2-plugin.sock" >"$WS_TMP/reset-h2.out" 2>&1 || { cat "$WS_TMP/reset-h2.out" >&2; fail "reset on h2"; }
cat "$WS_TMP/reset-h2.out" >&2
ws_check "reset: the running h2 left the ring before stopping" grep -q 'handed this host.s address ranges' "$WS_TMP/reset-h2.out"
ws_check "reset: h1 owns the whole ring now" \
	wait_for 10 bash -c "[ \$(on h1 status ipam --json | jq '[.peers[] | select(.self) | .addresses] | add') -eq 1048576 ]"
ws_check "reset: h2's data directory is gone" test ! -e "$WS_TMP/h2"
ws_check "h2 sent STOPPING=1 to NOTIFY_SOCKET when reset stopped it" grep -q 'STOPPING=1' "$WS_TMP/notify.out"

pretty "kill -9 h1, then reset"
links_before=$(ip -n "$p-h1" -br link | awk '{print $1}' | sort | tr '\n' ' ')
tables_before=$(ip netns exec "$p-h1" nft list tables | tr '\n' ' ')
pretty "h1 before the kill: links $links_before; nft: $tables_before"
kill -KILL "$PID_h1"
wait "$PID_h1" 2>/dev/null || true
PID_h1=
ws_check "after kill -9 the bridge, c1's veth and nft tables are left behind" bash -c "
	ip -n $p-h1 link show weave >/dev/null && ip -n $p-h1 -br link | grep -q '^vws' &&
	ip netns exec $p-h1 nft list tables | grep -q weave-switch-weave && [ -e $WS_TMP/h1.sock ]"
ip netns exec "$p-h1" "$WS_BIN" reset --api "$WS_TMP/h1.sock" --bridge weave --data-dir "$WS_TMP/h1" --data \
	--proxy-socket "$WS_TMP/h1-proxy.sock" --plugin-socket "$WS_TMP/h1-plugin.sock" >"$WS_TMP/reset-h1.out" 2>&1 ||
	{ cat "$WS_TMP/reset-h1.out" >&2; fail "reset on h1"; }
cat "$WS_TMP/reset-h1.out" >&2
ws_check "reset after kill -9: only lo and the test's own links are left in h1" \
	bash -c "[ \"\$(ip -n $p-h1 -br link | awk '{print \$1}' | sed 's/@.*//' | sort | tr '\n' ' ')\" = 'lo u12 u13 ' ]"
ws_check "reset after kill -9: no nft table is left in h1" bash -c "[ -z \"\$(ip netns exec $p-h1 nft list tables)\" ]"
ws_check "reset after kill -9: the API socket and the data directory are gone" \
	bash -c "[ ! -e $WS_TMP/h1.sock ] && [ ! -e $WS_TMP/h1 ]"
ws_check "reset after kill -9: nothing listens on h1's ports any more" \
	bash -c "[ -z \"\$(ip netns exec $p-h1 ss -Hlntu)\" ]"
ws_check "reset is idempotent: a second run finds nothing to do" bash -c "
	ip netns exec $p-h1 $WS_BIN reset --api $WS_TMP/h1.sock --bridge weave --data-dir $WS_TMP/h1 --data \
		--proxy-socket $WS_TMP/h1-proxy.sock --plugin-socket $WS_TMP/h1-plugin.sock | grep -q 'nothing left to remove'"
