#!/usr/bin/env bash
# The CNI plugin end to end, driven by three real runtimes on two hosts:
#
#      pods/containers              pods/containers
#            |                            |
#   [h1 router + runtimes] --.12-- [h2 router + runtimes]
#
# Each host is a network namespace holding a router (--no-docker) and the
# runtime's daemons; its CNI configuration names its own router's socket,
# pending directory and call log.
#
#  a. cnitool ADD/CHECK/DEL/GC/STATUS: namespaces on both hosts get
#     addresses from the routers' allocator, ping and run iperf3 across the
#     mesh; CHECK fails once the interface is gone; DEL is idempotent and
#     works on a namespace that is gone; GC releases what the valid list
#     does not hold; STATUS fails while the router is down, and a DEL then
#     is recorded and carried out when the router starts again.
#  b. podman (CNI backend, in a private mount namespace, lowered ulimits)
#     runs a container on each host; they reach each other.
#  c. containerd's CRI plugin driven by crictl runp/create/start/stopp/rmp:
#     pods on both hosts get addresses from our allocator, reach each
#     other, and their addresses are released; a DEL lost while the
#     router was down is repaired by GC.
#
# Every daemon runs in its host's namespaces and is stopped by PID; names
# carry the run id. The CRI and CNI calls seen per pod are printed at the
# end (the plugin's call log and containerd's debug log).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "netns-cni-test: needs root" >&2; exit 1; }
[ -x "$WS_BIN" ] || fail "no binary at $WS_BIN (run make build)"
ROOT=$PWD
CNI_PLUGIN=$ROOT/bin/weave-switch-cni
CNITOOL=$ROOT/bin/cnitool
CRICTL=$ROOT/bin/crictl
[ -x "$CNI_PLUGIN" ] || fail "no $CNI_PLUGIN (run make build)"
[ -x "$CNITOOL" ] || fail "no $CNITOOL (run scripts/deps.sh)"

# Only the stages asked for (default: all): CNI_STAGES="a c".
STAGES=${CNI_STAGES:-a b c}
stage() { [[ " $STAGES " == *" $1 "* ]]; }

EXTRA_PIDS=()
cni_finish() {
	local rc=$? pid
	for pid in "${EXTRA_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${EXTRA_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -rf "/var/lib/$p-containerd" "/run/$p-containerd"
	(exit $rc)
	ws_finish netns-cni-test
}
trap cni_finish EXIT

p=wsc-$WS_ID
NET=wsnet-$WS_ID
ns_add "$p-h1"
ns_add "$p-h2"
link_ns "$p-h1" "$p-h2" u12 u21 198.18.12.1/24 198.18.12.2/24
n1=02:00:00:00:0c:01 n2=02:00:00:00:0c:02
seeds=(--ipalloc-seed "$n1" --ipalloc-seed "$n2")
export WEAVE_SWITCH_PASSWORD=cni-test-secret
start_h1() { router_up "$p-h1" h1 "$WS_TMP/h1.log" --name $n1 --nickname h1 "${seeds[@]}" --peer 198.18.12.2 --cni-pending-dir "$WS_TMP/pending-h1"; }
start_h2() { router_up "$p-h2" h2 "$WS_TMP/h2.log" --name $n2 --nickname h2 "${seeds[@]}" --peer 198.18.12.1 --cni-pending-dir "$WS_TMP/pending-h2"; }
pretty "starting two routers"
start_h1
start_h2
wait_links h1 1
wait_links h2 1
on() { local h=$1; shift; "$WS_BIN" "$@" --api "$WS_TMP/$h.sock"; }

# The CNI binaries and one configuration directory per host.
CNIBIN=$WS_TMP/cni-bin
mkdir -p "$CNIBIN"
cp "$CNI_PLUGIN" "$CNIBIN/"
[ -x /usr/lib/cni/loopback ] && cp /usr/lib/cni/loopback "$CNIBIN/"
for h in h1 h2; do
	mkdir -p "$WS_TMP/$h-net.d"
	cat >"$WS_TMP/$h-net.d/10-$NET.conflist" <<J
{
  "cniVersion": "1.1.0",
  "name": "$NET",
  "plugins": [
    {
      "type": "weave-switch-cni",
      "api": "$WS_TMP/$h.sock",
      "pendingDir": "$WS_TMP/pending-$h",
      "logFile": "$WS_TMP/cni-$h.calls"
    }
  ]
}
J
done
# The status page shows the addresses held under the network's keys.
allocs() { on "$1" status --json | jq -r --arg k "cni:$NET:" '[.ipam.allocations[] | select(.key | startswith($k))] | length'; }
alloc_keys() { on "$1" status --json | jq -r --arg k "cni:$NET:" '.ipam.allocations[] | select(.key | startswith($k)) | .key'; }
addr_in() { ip -n "$1" -4 -j addr show "${2:-eth0}" | jq -r '.[0].addr_info[0].local'; }

# cni HOST CMD NETNS-NAME [cnitool args]: cnitool in the host's namespace.
cni() {
	local h=$1 cmd=$2 n=$3; shift 3
	CNI_PATH=$CNIBIN NETCONFPATH=$WS_TMP/$h-net.d ip netns exec "$p-$h" "$CNITOOL" "$cmd" "$NET" "/run/netns/$n" "$@"
}
# plugin HOST COMMAND CONTAINERID NETNS STDIN: the plugin by hand, as a
# runtime runs it (cnitool's GC sends no valid list).
plugin() {
	local h=$1 cmd=$2 id=$3 netns=$4 stdin=$5
	ip netns exec "$p-$h" env CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" CNI_NETNS="$netns" CNI_IFNAME=eth0 CNI_PATH="$CNIBIN" \
		"$CNI_PLUGIN" <<<"$stdin"
}
conf_of() { jq -c '.plugins[0] + {cniVersion: .cniVersion, name: .name}' "$WS_TMP/$1-net.d/10-$NET.conflist"; }
# cid_of NETNS-PATH: the container ID cnitool gives a namespace.
cid_of() { printf 'cnitool-%s' "$(printf '%s' "$1" | sha512sum | cut -c1-20)"; }

if stage a; then
	pretty "a: cnitool ADD on both hosts"
	for c in a1 a2 ax; do ns_add "$p-$c"; done
	ws_check "cnitool add (h1)" cni h1 add "$p-a1"
	ws_check "cnitool add (h2)" cni h2 add "$p-a2"
	ws_check "cnitool add, second namespace (h1)" cni h1 add "$p-ax"
	A1=$(addr_in "$p-a1") A2=$(addr_in "$p-a2")
	pretty "a1 $A1, a2 $A2"
	ws_check "a1 and a2 have addresses from the allocator" test "$A1" != null -a "$A2" != null -a "$A1" != "$A2"
	ws_check "h1 holds 2 allocations under cni:$NET: keys" test "$(allocs h1)" = 2
	ws_check "cnitool check (h1)" cni h1 check "$p-a1"
	ws_check "cnitool status (h1)" cni h1 status "$p-a1"
	ws_check "ping a1 -> a2 across the mesh" ip netns exec "$p-a1" ping -c 3 -i 0.2 -W 5 "$A2"
	ip netns exec "$p-a2" iperf3 -s -D -1 -p 5201 >/dev/null
	wait_listen "$p-a2" 5201
	ws_check "iperf3 a1 -> a2 across the mesh" ip netns exec "$p-a1" iperf3 -c "$A2" -p 5201 -t 2
	ws_check "check fails once the interface is gone" bash -c "! { ip -n $p-ax link del eth0 && CNI_PATH=$CNIBIN NETCONFPATH=$WS_TMP/h1-net.d ip netns exec $p-h1 $CNITOOL check $NET /run/netns/$p-ax; }"
	# GC with a valid list (the plugin by hand: cnitool sends none).
	AX_ID=$(cid_of "/run/netns/$p-a1")
	gc_in=$(conf_of h1 | jq -c --arg id "$AX_ID" '. + {"cni.dev/valid-attachments": [{containerID: $id, ifname: "eth0"}]}')
	ws_check "GC keeps the valid attachment, releases the other" plugin h1 GC "" "" "$gc_in"
	ws_check "h1 holds 1 allocation after GC" test "$(allocs h1)" = 1
	ws_check "GC kept a1's key" bash -c "$(declare -f on alloc_keys); WS_BIN=$WS_BIN WS_TMP=$WS_TMP NET=$NET; alloc_keys h1 | grep -q $AX_ID"
	ws_check "cnitool del (h1)" cni h1 del "$p-a1"
	ws_check "cnitool del again: idempotent" cni h1 del "$p-a1"
	ip netns del "$p-a2"
	ws_check "cnitool del of a namespace that is gone (h2)" cni h2 del "$p-a2"
	ws_check "both routers hold no cni allocation" test "$(allocs h1)/$(allocs h2)" = 0/0

	pretty "a: router down: STATUS fails, DEL is recorded and carried out at the router's start"
	ns_add "$p-a3"
	ws_check "cnitool add (h1) a3" cni h1 add "$p-a3"
	router_down h1
	ws_check "STATUS fails with code 50 while the router is down" bash -c \
		"out=\$(CNI_PATH=$CNIBIN NETCONFPATH=$WS_TMP/h1-net.d ip netns exec $p-h1 $CNITOOL status $NET /run/netns/$p-a3 2>&1); echo \"\$out\"; grep -q 'not available' <<<\"\$out\""
	ws_check "DEL while the router is down succeeds" cni h1 del "$p-a3"
	ws_check "the release is recorded" bash -c "ls $WS_TMP/pending-h1/*.release"
	start_h1
	wait_links h1 1
	for _ in $(seq 50); do [ "$(allocs h1)" = 0 ] && break; sleep 0.1; done
	ws_check "the router carried out the release at start" test "$(allocs h1)" = 0
	ws_check "and removed the record" bash -c "! ls $WS_TMP/pending-h1/*.release"
	ws_check "the router logged it" grep -q "pending releases carried out" "$WS_TMP/h1.log"
	ws_check "cnitool gc (no valid list) releases nothing more" cni h1 gc "$p-a3"
fi

# A busybox root file system, the image of stages b and c.
mkdir -p "$WS_TMP/rootfs/bin"
cp "$(command -v busybox)" "$WS_TMP/rootfs/bin/"
for a in sh sleep ip cat ping nc wget httpd hostname; do ln -sf busybox "$WS_TMP/rootfs/bin/$a"; done
# Runtimes that predate CNI 1.1 get the list at 1.0.0.
for h in h1 h2; do
	mkdir -p "$WS_TMP/$h-net10.d"
	jq '.cniVersion = "1.0.0"' "$WS_TMP/$h-net.d/10-$NET.conflist" >"$WS_TMP/$h-net10.d/10-$NET.conflist"
done

if stage b; then
	pretty "b: podman (CNI backend) on both hosts"
	# One podman session per host: the host's network namespace, a private
	# mount namespace with a tmpfs over /run/netns (podman's namespace
	# files stay in it), its own storage. Every call on a container runs
	# inside its session.
	cat >"$WS_TMP/podman-session.sh" <<'S'
#!/usr/bin/env bash
# podman-session.sh HOST ROLE: ROLE srv runs a container that serves until
# $WS_TMP/podman-done exists; ROLE cli reaches it from a container.
set -eu
h=$1 role=$2
mount -t tmpfs tmpfs /run/netns
cat >"$WS_TMP/containers-$h.conf" <<C
[network]
network_backend = "cni"
cni_plugin_dirs = ["$CNIBIN", "/usr/lib/cni"]
network_config_dir = "$WS_TMP/$h-net10.d"
[containers]
default_ulimits = ["nofile=16384:16384", "nproc=16384:16384"]
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
C
export CONTAINERS_CONF=$WS_TMP/containers-$h.conf
P() { podman --root "/var/lib/$P_ID-podman-$h" --runroot "/run/$P_ID-podman-$h" --storage-driver vfs "$@"; }
cleanup() { P rm -af -t 0 >/dev/null 2>&1 || true; P rmi -af >/dev/null 2>&1 || true; rm -rf "/var/lib/$P_ID-podman-$h" "/run/$P_ID-podman-$h"; }
trap cleanup EXIT
tar -C "$WS_TMP/rootfs" -c . | P import - "localhost/$P_ID-bb:$h" >/dev/null
if [ "$role" = srv ]; then
	P run -d --name "$P_ID-srv" --network "$NET" "localhost/$P_ID-bb:$h" /bin/sh -c 'echo hello-from-podman >/index.html; exec httpd -f -p 8080 -h /' >/dev/null
	P inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" "$P_ID-srv" >"$WS_TMP/podman-srv.ip"
	while [ ! -e "$WS_TMP/podman-done" ]; do sleep 0.2; done
	P stop -t 1 "$P_ID-srv" >/dev/null
else
	srv=$(cat "$WS_TMP/podman-srv.ip")
	P run --rm --network "$NET" "localhost/$P_ID-bb:$h" /bin/sh -c "ip -4 addr show eth0; ping -c 2 -W 5 $srv && wget -q -O - http://$srv:8080/index.html"
fi
S
	chmod +x "$WS_TMP/podman-session.sh"
	export WS_TMP CNIBIN NET P_ID=$p
	rm -f "$WS_TMP/podman-srv.ip" "$WS_TMP/podman-done"
	nsenter --net="/run/netns/$p-h2" unshare -m --propagation private "$WS_TMP/podman-session.sh" h2 srv >"$WS_TMP/podman-h2.log" 2>&1 &
	psrv=$!
	EXTRA_PIDS+=("$psrv")
	for _ in $(seq 600); do [ -s "$WS_TMP/podman-srv.ip" ] && break; kill -0 $psrv 2>/dev/null || break; sleep 0.1; done
	ws_check "podman runs a container on h2 with an address from the allocator" test -s "$WS_TMP/podman-srv.ip"
	ws_check "podman container on h1 reaches the one on h2 (ping, HTTP)" bash -c \
		"nsenter --net=/run/netns/$p-h1 unshare -m --propagation private $WS_TMP/podman-session.sh h1 cli 2>&1 | tee $WS_TMP/podman-h1.log | grep -q hello-from-podman"
	pretty "podman: h2's container has $(cat "$WS_TMP/podman-srv.ip" 2>/dev/null); h1's says: $(grep -E 'inet |hello' "$WS_TMP/podman-h1.log" | tr -s ' ' | tr '\n' ';')"
	touch "$WS_TMP/podman-done"
	ws_check "the podman session on h2 ends cleanly" wait $psrv
	ws_check "podman's DELs released every address" test "$(allocs h1)/$(allocs h2)" = 0/0
fi
