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
	set +e # clean up everything, whatever fails
	# Pods left by a failure: their shims and namespaces go with them.
	if declare -f cri >/dev/null; then
		for h in h1 h2; do [ -S "/run/$p-containerd/$h/containerd.sock" ] && cri "$h" rmp -fa >/dev/null 2>&1; done
	fi
	for pid in "${EXTRA_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${EXTRA_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	rm -rf "/var/lib/$p-containerd" "/run/$p-containerd"
	keep_logs
	(exit $rc)
	ws_finish netns-cni-test
}
trap cni_finish EXIT
# Keep the logs for a look after the run: CNI_KEEP=DIR.
keep_logs() { [ -n "${CNI_KEEP:-}" ] && mkdir -p "$CNI_KEEP" && cp "$WS_TMP"/*.log "$WS_TMP"/*.calls "$CNI_KEEP"/ 2>/dev/null; return 0; }

p=wsc-$WS_ID
NET=wsnet-$WS_ID
ns_add "$p-h1"
ns_add "$p-h2"
link_ns "$p-h1" "$p-h2" u12 u21 198.18.12.1/24 198.18.12.2/24
n1=02:00:00:00:0c:01 n2=02:00:00:00:0c:02
seeds=(--ipalloc-seed "$n1" --ipalloc-seed "$n2")
export WEAVE_SWITCH_PASSWORD=cni-test-secret
# The routers serve DNS (on their bridge's addresses): ADD tells the
# container about it.
export WS_DNS=1
start_h1() { router_up "$p-h1" h1 "$WS_TMP/h1.log" --name $n1 --nickname h1 "${seeds[@]}" --peer 198.18.12.2 --cni-state-dir "$WS_TMP/state-h1"; }
start_h2() { router_up "$p-h2" h2 "$WS_TMP/h2.log" --name $n2 --nickname h2 "${seeds[@]}" --peer 198.18.12.1 --cni-state-dir "$WS_TMP/state-h2"; }
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
      "stateDir": "$WS_TMP/state-$h",
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
	# h2's bridge gets an address in the default subnet: a2's gateway and
	# nameserver.
	ws_check "expose on h2" on h2 expose
	ws_check "h2's DNS serves on its bridge address" bash -c "$(declare -f on); WS_BIN=$WS_BIN WS_TMP=$WS_TMP; for i in \$(seq 100); do on h2 status --json >/dev/null; curl -s --unix-socket $WS_TMP/h2.sock http://x/v1/dns | jq -e '.serving | length > 0' && exit 0; sleep 0.1; done; exit 1"
	ws_check "cnitool add (h2) returns the gateway, default route and DNS" bash -c \
		"CNI_PATH=$CNIBIN NETCONFPATH=$WS_TMP/h2-net.d ip netns exec $p-h2 $CNITOOL add $NET /run/netns/$p-a2 | tee $WS_TMP/a2.result | jq -e '(.ips[0].gateway | length > 0) and (.routes[0].dst == \"0.0.0.0/0\") and (.dns.nameservers[0] == .ips[0].gateway) and (.interfaces[1].sandbox | length > 0) and (.interfaces[1].mtu > 0)'"
	pretty "a2's result: $(jq -c . "$WS_TMP/a2.result" 2>/dev/null)"
	ws_check "a2 has the default route through h2's bridge" bash -c "ip -n $p-a2 route show default | grep -q \"via \$(jq -r '.ips[0].gateway' $WS_TMP/a2.result)\""
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

	pretty "a: router down: STATUS fails, DEL is recorded and carried out at the router's start; attachments outlive the router"
	for c in a3 a4 a5; do ns_add "$p-$c"; done
	ws_check "cnitool add (h1) a3" cni h1 add "$p-a3"
	ws_check "cnitool add (h1) a4" cni h1 add "$p-a4"
	ws_check "cnitool add (h2) a5" cni h2 add "$p-a5"
	A5=$(addr_in "$p-a5")
	router_down h1
	ws_check "cnitool status fails while the router is down" bash -c "! CNI_PATH=$CNIBIN NETCONFPATH=$WS_TMP/h1-net.d ip netns exec $p-h1 $CNITOOL status $NET /run/netns/$p-a3"
	ws_check "STATUS answers code 50 (plugin not available)" bash -c \
		"$(declare -f plugin); p=$p CNIBIN=$CNIBIN CNI_PLUGIN=$CNI_PLUGIN; out=\$(plugin h1 STATUS '' '' '$(conf_of h1)'); echo \"\$out\"; jq -e '.code == 50' <<<\"\$out\""
	ws_check "DEL while the router is down succeeds" cni h1 del "$p-a3"
	ws_check "the release is recorded" bash -c "ls $WS_TMP/state-h1/*.release"
	start_h1
	wait_links h1 1
	A3_ID=$(cid_of "/run/netns/$p-a3")
	ws_check "the router carried out the release at start (a4's address stays)" bash -c \
		"$(declare -f on alloc_keys); WS_BIN=$WS_BIN WS_TMP=$WS_TMP NET=$NET; keys=\$(alloc_keys h1); echo \"\$keys\"; ! grep -q $A3_ID <<<\"\$keys\" && grep -q . <<<\"\$keys\""
	ws_check "and removed the record" bash -c "! ls $WS_TMP/state-h1/*.release"
	ws_check "the router logged it" grep -q "pending releases carried out" "$WS_TMP/h1.log"
	ws_check "the restarted router restored a4's attachment" grep -q "attachments restored.*restored=.*cni:$NET:" "$WS_TMP/h1.log"
	ws_check "a4 (h1) reaches a5 (h2) after h1's router restarted" ip netns exec "$p-a4" ping -c 2 -i 0.2 -W 5 "$A5"
	ws_check "cnitool check a4 after the restart" cni h1 check "$p-a4"
	A4=$(addr_in "$p-a4")
	router_down h1
	mv "$WS_TMP/h1/ipam.db" "$WS_TMP/h1/ipam.db.damaged"
	start_h1
	wait_links h1 1
	ws_check "with its ipam.db replaced, the restarted router claims a4's address again under a4's key" bash -c \
		"$(declare -f on); WS_BIN=$WS_BIN WS_TMP=$WS_TMP; for _ in \$(seq 100); do on h1 status --json | jq -e --arg a $A4 --arg k cni:$NET: '.ipam.allocations[] | select(.key | startswith(\$k)) | select(.addrs | index(\$a))' >/dev/null && exit 0; sleep 0.1; done; exit 1"
	ws_check "cnitool del a4, a5" bash -c "$(declare -f cni); p=$p CNIBIN=$CNIBIN WS_TMP=$WS_TMP CNITOOL=$CNITOOL NET=$NET; cni h1 del $p-a4 && cni h2 del $p-a5"
	ws_check "no attachment record left" bash -c "! ls $WS_TMP/state-h1/*.attachment $WS_TMP/state-h2/*.attachment"
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

if stage c; then
	pretty "c: containerd's CRI plugin driven by crictl on both hosts"
	IMG=docker.io/library/$p-pause:local
	python3 scripts/oci-image.py "$WS_TMP/rootfs" "$WS_TMP/pause.tar" "$IMG" /bin/sleep 2147483647
	# ctrd HOST: start the host's containerd (debug log: the CRI calls).
	ctrd() {
		local h=$1 d=/var/lib/$p-containerd/$1 r=/run/$p-containerd/$1
		mkdir -p "$d" "$r"
		# restrict_oom_score_adj: this machine gives root no CAP_SYS_RESOURCE,
		# so runc cannot lower a sandbox's oom_score_adj.
		cat >"$WS_TMP/containerd-$h.toml" <<T
version = 2
root = "$d"
state = "$r/state"
[grpc]
  address = "$r/containerd.sock"
[ttrpc]
  address = "$r/containerd.sock.ttrpc"
[debug]
  level = "debug"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$IMG"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$CNIBIN"
    conf_dir = "$WS_TMP/$h-net10.d"
T
		nsenter --net="/run/netns/$p-$h" containerd --config "$WS_TMP/containerd-$h.toml" >"$WS_TMP/containerd-$h.log" 2>&1 &
		EXTRA_PIDS+=("$!")
		printf 'runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\n' "$r/containerd.sock" "$r/containerd.sock" >"$r/crictl.yaml"
		for _ in $(seq 100); do [ -S "$r/containerd.sock" ] && break; sleep 0.1; done
		ctr --address "$r/containerd.sock" -n k8s.io images import "$WS_TMP/pause.tar" >/dev/null
	}
	# cri HOST ARGS...: crictl against the host's containerd, in its namespace.
	cri() {
		local h=$1; shift
		nsenter --net="/run/netns/$p-$h" timeout 90 "$CRICTL" --config "/run/$p-containerd/$h/crictl.yaml" "$@" 2>>"$WS_TMP/crictl.log"
	}
	podjson() { echo '{"metadata":{"name":"'"$1"'","namespace":"default","uid":"uid-'"$1-$WS_ID"'","attempt":1},"log_directory":"'"$WS_TMP"'/pods/'"$1"'","linux":{}}' >"$WS_TMP/$1.pod.json"; }
	ctrjson() { echo '{"metadata":{"name":"'"$1"'"},"image":{"image":"'"$IMG"'"},"command":["/bin/sh","-c","'"$2"'"],"log_path":"'"$1"'.log","linux":{}}' >"$WS_TMP/$1.ctr.json"; }
	# calls HOST POD: the CRI calls about the pod and its containers and
	# the CNI calls about the pod, in time order.
	calls() {
		local log=$WS_TMP/containerd-$1.log ids uid
		ids=$(grep -F "$2" "$log" | grep -F 'returns container id' | sed -nE 's/.*returns container id \\"([0-9a-f]+)\\".*/\1/p' | tr '\n' '|' || true)
		uid=$(grep -F "returns sandbox id \\\"$2" "$log" | sed -nE 's/.*Uid:([^,]+),.*/\1/p' | head -1 || true)
		{
			grep -E "(RunPodSandbox for .*Uid:$uid,|(StopPodSandbox|RemovePodSandbox|CreateContainer|StartContainer|Exec for).*(${ids}$2))" "$log" |
				grep -v 'returns' | sed -E 's/^time="([^"]+)".*msg="([A-Za-z]+)( for)? .*/\1 CRI \2/' || true
			grep -F "$2" "$WS_TMP/cni-$1.calls" |
				sed -E 's/^time=([^ ]+) .* msg=([a-z]+) cni=([A-Z]+) .* ifname=[^ ]+ ?(.*)/\1 CNI \3 \2 \4/' || true
		} | sort | sed -E 's/^[^ ]+T([0-9:]+\.[0-9]{3})[^ ]* /  \1 /'
	}
	ctrd h1
	ctrd h2
	ws_check "containerd serves CRI on h1 and h2" bash -c "$(declare -f cri); p=$p CRICTL=$CRICTL; cri h1 info >/dev/null && cri h2 info >/dev/null"
	for h in h1 h2; do podjson "pod-$h"; done
	ctrjson web 'echo hello-from-cri >/index.html; exec httpd -f -p 8080 -h /'
	ctrjson client 'exec sleep 3600'
	P1=$(cri h1 runp "$WS_TMP/pod-h1.pod.json") || fail "crictl runp on h1"
	P2=$(cri h2 runp "$WS_TMP/pod-h2.pod.json") || fail "crictl runp on h2"
	ws_check "runp: pods on h1 and h2" test -n "$P1" -a -n "$P2"
	IP1=$(cri h1 inspectp "$P1" | jq -r .status.network.ip)
	IP2=$(cri h2 inspectp "$P2" | jq -r .status.network.ip)
	pretty "pod-h1 $P1 $IP1; pod-h2 $P2 $IP2"
	ws_check "the pods' addresses come from our allocator (keys cni:$NET:SANDBOX:eth0)" bash -c \
		"$(declare -f on); WS_BIN=$WS_BIN WS_TMP=$WS_TMP; on h1 status --json | jq -e --arg k cni:$NET:$P1:eth0 --arg ip $IP1 '.ipam.allocations[] | select(.key == \$k) | .addrs | index(\$ip)' && on h2 status --json | jq -e --arg k cni:$NET:$P2:eth0 --arg ip $IP2 '.ipam.allocations[] | select(.key == \$k) | .addrs | index(\$ip)'"
	C1=$(cri h1 create "$P1" "$WS_TMP/client.ctr.json" "$WS_TMP/pod-h1.pod.json") && cri h1 start "$C1" >/dev/null || fail "create/start on h1"
	C2=$(cri h2 create "$P2" "$WS_TMP/web.ctr.json" "$WS_TMP/pod-h2.pod.json") && cri h2 start "$C2" >/dev/null || fail "create/start on h2"
	ws_check "create/start: containers run in both pods" bash -c "$(declare -f cri); p=$p CRICTL=$CRICTL; cri h1 ps -q | grep -q . && cri h2 ps -q | grep -q ."
	ws_check "the pod on h1 reaches the pod on h2 (ping, HTTP via crictl exec)" bash -c \
		"$(declare -f cri); p=$p CRICTL=$CRICTL; for i in \$(seq 50); do cri h1 exec $C1 ping -c 1 -W 2 $IP2 && break; sleep 0.2; done; cri h1 exec $C1 wget -q -O - http://$IP2:8080/index.html | grep -q hello-from-cri"

	pretty "c: a DEL lost while the router was down is repaired by GC"
	podjson pod-h1b
	P3=$(cri h1 runp "$WS_TMP/pod-h1b.pod.json") || fail "crictl runp pod-h1b"
	ws_check "h1 holds two pods' addresses" test "$(allocs h1)" = 2
	kill -KILL "$PID_h1"
	wait "$PID_h1" 2>/dev/null || true
	PID_h1=
	ws_check "stopp/rmp of pod-h1b while h1's router is dead (crashed DEL)" bash -c "$(declare -f cri); p=$p CRICTL=$CRICTL; cri h1 stopp $P3 && cri h1 rmp $P3"
	# The record of the release is lost too (a node that lost /var/lib).
	rm -f "$WS_TMP"/state-h1/*.release
	start_h1
	wait_links h1 1
	ws_check "after the restart the dead pod's address leaked" test "$(allocs h1)" = 2
	ws_check "pod-h1 still reaches pod-h2 after its router crashed and restarted" bash -c \
		"$(declare -f cri); p=$p CRICTL=$CRICTL WS_TMP=$WS_TMP; for i in \$(seq 50); do cri h1 exec $C1 ping -c 1 -W 2 $IP2 && break; sleep 0.2; done; cri h1 exec $C1 wget -q -O - http://$IP2:8080/index.html | grep -q hello-from-cri"
	valid=$(cri h1 pods -q --no-trunc | jq -R '{containerID: ., ifname: "eth0"}' | jq -sc .)
	gc_in=$(jq -c '.plugins[0] + {cniVersion: "1.1.0", name: .name}' "$WS_TMP/h1-net.d/10-$NET.conflist" | jq -c --argjson v "$valid" '. + {"cni.dev/valid-attachments": $v}')
	ws_check "GC with the runtime's pods as the valid list" plugin h1 GC "" "" "$gc_in"
	ws_check "GC released the lost pod's address, kept the live one's" bash -c \
		"$(declare -f on alloc_keys); WS_BIN=$WS_BIN WS_TMP=$WS_TMP NET=$NET; test \"\$(alloc_keys h1)\" = cni:$NET:$P1:eth0"
	ws_check "stopp/rmp on h2 (CNI DEL)" bash -c "$(declare -f cri); p=$p CRICTL=$CRICTL; cri h2 stopp $P2 && cri h2 rmp $P2"
	ws_check "rmp released the pod's address on h2" test "$(allocs h2)" = 0
	ws_check "stopp/rmp on h1" bash -c "$(declare -f cri); p=$p CRICTL=$CRICTL; cri h1 stopp $P1 && cri h1 rmp $P1"
	ws_check "rmp released the pod's address on h1" test "$(allocs h1)" = 0

	pretty "CRI calls (containerd's debug log) and CNI calls (the plugin's log) per pod"
	for pod in "h1 $P1" "h2 $P2" "h1 $P3"; do
		set -- $pod
		echo "pod ${2:0:12} on $1:"
		calls "$1" "$2"
	done | tee "$WS_TMP/calls.txt"
fi
