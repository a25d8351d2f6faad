#!/usr/bin/env bash
# pingtrace: where the time of one ping through the sleeve goes. Two
# weave-switch routers (plaintext sleeve) in host namespaces joined by a
# veth, a container namespace on each, and the kernel's container -> bridge
# -> vxlan path next to them for reference. It pings both, then records a
# short ping run with perf (scheduler wake-ups and switches, every system
# call, system-wide) and prints, per ping, the time of each stage from the
# echo request leaving ping to the reply reaching it (bench/pingtrace).
#
# Usage: bench/pingtrace.sh [-n PINGS] [-b BIN] [-k] [-- up flags...]
#   -b BIN: the weave-switch binary (default bin/weave-switch)
#   -k: keep the set-up and wait for Enter before cleaning up
#   -o FILE: also keep the perf script text in FILE
# Needs root, perf (with tracefs), ping, jq.
set -euo pipefail
cd "$(dirname "$0")/.."
n=30 keep= save=
while getopts "n:b:ko:" opt; do
	case $opt in
	n) n=$OPTARG ;;
	b) export WEAVE_SWITCH_BIN=$(realpath "$OPTARG") ;;
	k) keep=1 ;;
	o) save=$OPTARG ;;
	*) echo "usage: $0 [-n PINGS] [-b BIN] [-k] [-- up flags...]" >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
. scripts/lib.sh
trap ws_cleanup EXIT
[ "$(id -u)" -eq 0 ] || { echo "pingtrace: needs root" >&2; exit 1; }
command -v perf >/dev/null || { echo "pingtrace: needs perf" >&2; exit 1; }
[ -d /sys/kernel/tracing/events ] || mount -t tracefs nodev /sys/kernel/tracing

p=wsp-$WS_ID
h1=$p-h1 h2=$p-h2
for x in $h1 $h2; do ns_add "$x"; done
link_ns "$h1" "$h2" ul0 ul0 198.18.0.1/24 198.18.0.2/24

vxlan_pair "$p"

router_up "$h1" r1 "$WS_TMP/r1.log" --name 02:00:00:00:00:01 --listen 198.18.0.1:6783 --peer 198.18.0.2 $(insecure) "$@"
router_up "$h2" r2 "$WS_TMP/r2.log" --name 02:00:00:00:00:02 --listen 198.18.0.2:6783 --peer 198.18.0.1 $(insecure) "$@"
wait_links r1 1
ns_add "$p-s1"
ns_add "$p-s2"
ws attach --api "$WS_TMP/r1.sock" "$p-s1" 10.32.0.1/12 >/dev/null
ws attach --api "$WS_TMP/r2.sock" "$p-s2" 10.32.0.2/12 >/dev/null
ip netns exec "$p-s1" ping -c 3 -W 2 10.32.0.2 >/dev/null || fail "the sleeve passes no traffic"
ip netns exec "$p-x1" ping -c 3 -W 2 10.99.0.2 >/dev/null || fail "vxlan passes no traffic"

avg() { ip netns exec "$1" ping -q -c "$3" -i 0.02 "$2" | sed -n 's|.*= [0-9.]*/\([0-9.]*\)/.*|\1|p'; }
for rep in 1 2; do
	printf 'ping avg, 50 pings (rep %d): vxlan %s ms, sleeve %s ms\n' "$rep" "$(avg "$p-x1" 10.99.0.2 50)" "$(avg "$p-s1" 10.32.0.2 50)"
done

# The trace: scheduler and system-call events of the routers' threads and
# of ping, on every CPU, during n pings. ping is a shell that waits for the
# recording to start and then execs ping, so its PID is known beforehand.
data=$WS_TMP/perf.data
mkfifo "$WS_TMP/go"
ip netns exec "$p-s1" bash -c 'read -r _ <"$1"; exec ping -q -c "$2" -i 0.02 10.32.0.2 >"$3" 2>&1' _ "$WS_TMP/go" "$n" "$WS_TMP/ping.txt" &
pinger=$!
WS_PIDS+=("$pinger")
tids=$(ls "/proc/$PID_r1/task" "/proc/$PID_r2/task" | grep -E '^[0-9]+$' | sort -u)
filter="common_pid == $pinger" wfilter="pid == $pinger"
for t in $tids; do filter+=" || common_pid == $t" wfilter+=" || pid == $t"; done
perf record -q -a -o "$data" -e sched:sched_wakeup --filter "$wfilter" -e sched:sched_switch \
	-e raw_syscalls:sys_enter --filter "$filter" -e raw_syscalls:sys_exit --filter "$filter" &
perfpid=$!
sleep 1
echo >"$WS_TMP/go"
wait "$pinger" || true
kill -INT "$perfpid"
wait "$perfpid" || true
sed -n 's|^rtt.*= \(.*\)|traced run: min/avg/max/mdev \1|p' "$WS_TMP/ping.txt"
perf script -i "$data" -F comm,tid,cpu,time,event,trace 2>/dev/null >"$WS_TMP/perf.txt"
[ -z "$save" ] || cp "$WS_TMP/perf.txt" "$save"
tidlist() { ls "/proc/$1/task" | paste -sd, -; }
${GO:-go} run ./bench/pingtrace -r1 "$(tidlist "$PID_r1")" -r2 "$(tidlist "$PID_r2")" <"$WS_TMP/perf.txt"
if [ -n "$keep" ]; then
	echo "pingtrace: kept (WS_TMP=$WS_TMP, r1 $PID_r1, r2 $PID_r2); Enter cleans up" >&2
	read -r _
fi
