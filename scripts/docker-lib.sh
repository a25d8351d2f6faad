# Hosts with Docker for the Docker suite and demo (netns-docker-test.sh,
# demo-docker.sh). Source it after lib.sh; it defines no traps of its own.
#
# A host is what a machine running Docker is: its own network namespace
# (joined to the others by an underlay bridge) and its own mount
# namespace, where tmpfs hide /run/docker, /run/weave-switch and
# /etc/docker, so that every host has its own plugin directory, router
# sockets and dockerd key file, and the machine's are never touched. A
# `sleep` started by `unshare --mount` holds the mount namespace; every
# command for a host runs through nsenter into both namespaces (on_host).
#
# dockerd is started with nsenter, never `ip netns exec`: that remounts
# /sys and so hides /sys/fs/cgroup, and dockerd refuses to start.
#
# Everything is recorded so that dh_teardown removes exactly what this run
# made: dockerd, containerd, shims, routers and the namespace holders by
# PID, container cgroups by container ID, namespaces by name.

DH_HOSTS=()
declare -A DH_NS=() DH_MNT=() DH_DOCKERD=() DH_ROUTER=() DH_ROUTER_ARGS=() DH_IDS=()
DH_LAN=
DH_MADE_DIRS=()                       # mount points this run had to create on the machine
DH_HOLDS=()                           # files that keep the machine's mount points in place (dh_add)
DH_HOST_DIRS=(/run/docker /run/weave-switch /etc/docker)
DH_IMAGE=ws-busybox:latest
export DOCKER_CONFIG=$WS_TMP/docker-config # the CLI's config, not root's ~/.docker

# dh_lan NAME: the underlay, a bridge in its own namespace NAME.
dh_lan() {
	DH_LAN=$1
	ns_add "$DH_LAN"
	ip -n "$DH_LAN" link add lan type bridge
	ip -n "$DH_LAN" link set lan up
}

# dh_add HOST NETNS IDX: a host named HOST (h1, ...) in namespace NETNS,
# 198.18.0.IDX/24 on the underlay, with its own mount namespace.
dh_add() {
	local h=$1 n=$2 i=$3 d pid hold
	ns_add "$n"
	ip link add eth0 netns "$n" type veth peer name "$h" netns "$DH_LAN"
	ip -n "$DH_LAN" link set "$h" master lan up
	ip -n "$n" addr add "198.18.0.$i/24" dev eth0
	ip -n "$n" link set eth0 up
	for d in "${DH_HOST_DIRS[@]}"; do
		if [ ! -d "$d" ]; then
			mkdir -p "$d"
			DH_MADE_DIRS+=("$d")
		fi
		# A file of this run keeps the machine's directory from being
		# removed (as empty) by anyone else while the run lasts: removing a
		# directory that is a mount point in another mount namespace
		# detaches that mount, and the hosts would lose their tmpfs.
		hold=$d/.wsdk-hold-$WS_ID
		if [ ! -e "$hold" ]; then
			for _ in 1 2 3; do
				mkdir -p "$d" && : >"$hold" 2>/dev/null && break
			done
			[ -e "$hold" ] || fail "cannot hold $d with $hold"
			DH_HOLDS+=("$hold")
		fi
	done
	unshare --mount --propagation private sleep infinity &
	pid=$!
	DH_MNT[$h]=$pid
	for _ in $(seq 100); do
		[ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" != "$(readlink /proc/self/ns/mnt)" ] && break
		sleep 0.05
	done
	[ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] || fail "host $h: no private mount namespace"
	DH_NS[$h]=$n
	DH_HOSTS+=("$h")
	mkdir -p "$WS_TMP/$h"
	for d in "${DH_HOST_DIRS[@]}"; do
		nsenter --mount="/proc/$pid/ns/mnt" mount -t tmpfs -o mode=0755 "ws-$h" "$d"
	done
	# The private namespace copied the mounts of every named network
	# namespace of the machine; drop the others' so that this host does not
	# keep them alive after their owners delete them.
	nsenter --mount="/proc/$pid/ns/mnt" sh -c '
		awk -v keep="^/run/netns/$1" '\''$5 ~ "^/run/netns/." && $5 !~ keep { print $5 }'\'' /proc/self/mountinfo |
			while read -r m; do umount -l "$m" 2>/dev/null || true; done' sh "${WS_PREFIX:-$n}"
}

# dh_resolv HOST FILE: HOST's /etc/resolv.conf is FILE (a bind mount in
# its private mount namespace), for its router's DNS forwarder and its
# dockerd. Call before starting either: both read it at start.
dh_resolv() {
	nsenter --mount="/proc/${DH_MNT[$1]}/ns/mnt" mount --bind "$2" /etc/resolv.conf
}

# on_host HOST CMD...: run CMD in HOST's network and mount namespaces.
# Paths must be absolute (entering a mount namespace resets the cwd).
# Daemons are started with nsenter itself, not this function, so that $!
# is their PID (nsenter and env exec, a backgrounded function would fork).
on_host() {
	local h=$1; shift
	nsenter --mount="/proc/${DH_MNT[$h]}/ns/mnt" --net="/run/netns/${DH_NS[$h]}" "$@"
}

# dk HOST ARGS...: the docker CLI against HOST's dockerd (no proxy), with a
# time limit so that a hung daemon or plugin fails the check, not the run.
dk() {
	local h=$1; shift
	timeout "${DK_TIMEOUT:-60}" nsenter --mount="/proc/${DH_MNT[$h]}/ns/mnt" --net="/run/netns/${DH_NS[$h]}" \
		docker -H "unix://$WS_TMP/$h/docker.sock" "$@"
}

# Functions that wait return 1 with the reason on stderr (they also run
# as checks); the caller decides whether that ends the run.

# dh_dockerd HOST IDX: start HOST's dockerd (docker0 10.20IDX.1.1/24, its
# networks from 10.20IDX.128.0/20: nothing overlaps another host or the
# weave range), in the background; dh_dockerd_wait waits for its API.
dh_dockerd() {
	local h=$1 i=$2 d=$WS_TMP/$1
	mkdir -p "$d/docker" "$d/exec"
	nsenter --mount="/proc/${DH_MNT[$h]}/ns/mnt" --net="/run/netns/${DH_NS[$h]}" dockerd --data-root "$d/docker" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \
		-H "unix://$d/docker.sock" --bip "10.20$i.1.1/24" --default-address-pool "base=10.20$i.128.0/20,size=24" \
		--shutdown-timeout 3 >"$WS_TMP/$h-dockerd.log" 2>&1 &
	DH_DOCKERD[$h]=$!
}
dh_dockerd_wait() {
	local h=$1
	for _ in $(seq 240); do
		dk "$h" version >/dev/null 2>&1 && return 0
		kill -0 "${DH_DOCKERD[$h]}" 2>/dev/null || { tail -20 "$WS_TMP/$h-dockerd.log" >&2; echo "dockerd on $h exited during start-up" >&2; return 1; }
		sleep 0.25
	done
	tail -20 "$WS_TMP/$h-dockerd.log" >&2
	echo "dockerd on $h did not answer within 60 s" >&2
	return 1
}

# dh_rootfs: a busybox rootfs tarball, $WS_TMP/rootfs.tar, for dh_image.
dh_rootfs() {
	local r=$WS_TMP/rootfs a bb
	bb=$(command -v busybox) || fail "no busybox (scripts/deps.sh installs busybox-static)"
	mkdir -p "$r/bin" "$r/tmp"
	cp "$bb" "$r/bin/busybox"
	for a in sh ping nc nslookup wget ip sleep cat hostname ifconfig httpd ls ps grep echo true; do
		ln -s busybox "$r/bin/$a"
	done
	tar -C "$r" -cf "$WS_TMP/rootfs.tar" .
}

# dh_image HOST: import the rootfs into HOST's dockerd as $DH_IMAGE (no
# registry involved).
dh_image() {
	dk "$1" import -c 'CMD ["/bin/sh"]' "$WS_TMP/rootfs.tar" "$DH_IMAGE" >/dev/null
}

# dh_router HOST [up flags...]: start `weave-switch up` on HOST with its
# API, proxy and plugin sockets at their default paths (private to the
# host), its data in $WS_TMP/HOST/data and HOST's dockerd as its Docker
# daemon (DOCKER_HOST), and wait for its API. The flags are kept for
# dh_router_restart. dh_router_start only starts it: routers that seed
# the allocation ring together need each other before they answer fully.
dh_router() {
	dh_router_start "$@" && dh_router_wait "$1"
}
dh_router_start() {
	local h=$1 pid more=(); shift
	DH_ROUTER_ARGS[$h]=$(printf '%q ' "$@")
	# DNS is for the suites that say WS_DNS=1, as in lib.sh.
	local help
	help=$("$WS_BIN" up --help 2>&1)
	if [ -z "${WS_DNS:-}" ] && grep -q -- --no-dns <<<"$help"; then
		more+=(--no-dns)
	fi
	nsenter --mount="/proc/${DH_MNT[$h]}/ns/mnt" --net="/run/netns/${DH_NS[$h]}" env DOCKER_HOST="unix://$WS_TMP/$h/docker.sock" \
		"$WS_BIN" up --data-dir "$WS_TMP/$h/data" "${more[@]}" "$@" >>"$WS_TMP/$h.log" 2>&1 &
	pid=$!
	DH_ROUTER[$h]=$pid
	WS_PIDS+=("$pid")
}
dh_router_wait() {
	local h=$1 pid=${DH_ROUTER[$1]} rc
	for _ in $(seq 100); do
		# 0: healthy; 3: serving but unhealthy (no link up yet, say).
		rc=0
		timeout 5 nsenter --mount="/proc/${DH_MNT[$h]}/ns/mnt" --net="/run/netns/${DH_NS[$h]}" "$WS_BIN" status peers >/dev/null 2>&1 || rc=$?
		[ $rc -eq 0 ] || [ $rc -eq 3 ] && return 0
		kill -0 "$pid" 2>/dev/null || { tail -20 "$WS_TMP/$h.log" >&2; echo "router on $h exited during start-up" >&2; return 1; }
		sleep 0.1
	done
	tail -20 "$WS_TMP/$h.log" >&2
	echo "router on $h did not serve its API within 10 s" >&2
	return 1
}

# dh_router_stop HOST [SIGNAL]: stop HOST's router (SIGTERM, or SIGNAL)
# and wait for it.
dh_router_stop() {
	local h=$1 sig=${2:-TERM} pid=${DH_ROUTER[$1]:-}
	[ -n "$pid" ] || return 0
	kill -"$sig" "$pid" 2>/dev/null || true
	for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		echo "router on $h (pid $pid) did not stop within 15 s of SIG$sig" >&2
		return 1
	fi
	wait "$pid" 2>/dev/null || true
	DH_ROUTER[$h]=
}

# dh_router_restart HOST [SIGNAL]: stop HOST's router and start it again
# with the same flags and data directory.
dh_router_restart() {
	local h=$1 args
	dh_router_stop "$h" "${2:-TERM}" || return 1
	eval "args=(${DH_ROUTER_ARGS[$h]})"
	dh_router "$h" "${args[@]}"
}

# ws_on HOST ARGS...: the weave-switch CLI against HOST's router.
ws_on() { local h=$1; shift; timeout 30 nsenter --mount="/proc/${DH_MNT[$h]}/ns/mnt" --net="/run/netns/${DH_NS[$h]}" "$WS_BIN" "$@"; }

# cpid HOST CONTAINER: the PID of the container's first process.
cpid() { dk "$1" inspect -f '{{.State.Pid}}' "$2"; }

# caddrs HOST CONTAINER: the container's IPv4 addresses in the weave
# range (10.32.0.0/12) as ADDR/LEN, one a line, read from its namespace.
caddrs() {
	local pid
	pid=$(cpid "$1" "$2") && [ "$pid" -gt 0 ] || return 1
	nsenter --net="/proc/$pid/ns/net" ip -4 -j addr show |
		jq -r '.[].addr_info[] | "\(.local)/\(.prefixlen)"' | grep -E '^10\.(3[2-9]|4[0-7])\.' | sort
}
# caddr HOST CONTAINER: its first such address, without the length.
caddr() { caddrs "$1" "$2" | head -1 | cut -d/ -f1; }

# dh_snapshot FILE: what the machine's own namespaces look like (links,
# mounts, rules, forwarding), for dh_leftovers.
dh_snapshot() {
	{
		echo "## links"; ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort
		echo "## mounts"; awk '{print $5}' /proc/self/mountinfo | sort
		echo "## nft"; nft list ruleset 2>/dev/null | md5sum
		echo "## iptables"; { iptables-save 2>/dev/null || true; } | sed '/^#/d' | md5sum
		echo "## forwarding"; sysctl -n net.ipv4.ip_forward
	} >"$1"
}

# dh_teardown: remove every container, plugin and daemon of every host,
# then the routers, the namespace holders and anything left in their
# mount namespaces, container cgroups and the namespaces. Idempotent.
dh_teardown() {
	local h pid id mnt p c tries
	for h in "${DH_HOSTS[@]}"; do
		pid=${DH_DOCKERD[$h]:-}
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
		DH_IDS[$h]="${DH_IDS[$h]:-} $(DK_TIMEOUT=20 dk "$h" ps -aq --no-trunc 2>/dev/null | tr '\n' ' ')"
		for id in ${DH_IDS[$h]}; do DK_TIMEOUT=20 dk "$h" rm -f "$id" >/dev/null 2>&1 || true; done
		for p in $(DK_TIMEOUT=20 dk "$h" plugin ls -q 2>/dev/null); do
			DK_TIMEOUT=20 dk "$h" plugin rm -f "$p" >/dev/null 2>&1 || true
		done
		kill -TERM "$pid" 2>/dev/null || true
	done
	for h in "${DH_HOSTS[@]}"; do
		pid=${DH_DOCKERD[$h]:-}
		[ -n "$pid" ] || continue
		for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	for h in "${DH_HOSTS[@]}"; do dh_router_stop "$h" >/dev/null 2>&1 || true; done
	# containerd, its shims and anything else still in a host's mount
	# namespace, then the holder itself.
	for h in "${DH_HOSTS[@]}"; do
		pid=${DH_MNT[$h]:-}
		[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || continue
		mnt=$(readlink "/proc/$pid/ns/mnt")
		for tries in 1 2 3; do
			for p in /proc/[0-9]*; do
				p=${p#/proc/}
				[ "$p" = "$pid" ] && continue
				[ "$(readlink "/proc/$p/ns/mnt" 2>/dev/null)" = "$mnt" ] && kill -KILL "$p" 2>/dev/null
			done
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	# Container processes dockerd did not get to stop (it was killed):
	# they are in the container's cgroups.
	for h in "${DH_HOSTS[@]}"; do
		for id in ${DH_IDS[$h]:-}; do
			for c in /sys/fs/cgroup/*/docker/"$id" /sys/fs/cgroup/docker/"$id"; do
				[ -d "$c" ] || continue
				xargs -r kill -KILL <"$c/cgroup.procs" 2>/dev/null || true
				for _ in $(seq 20); do rmdir "$c" 2>/dev/null && break; sleep 0.1; done
			done
		done
	done
	for n in "${WS_NETNS[@]}"; do
		ip netns pids "$n" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
		ip netns del "$n" 2>/dev/null || true
	done
	WS_NETNS=()
	rm -f "${DH_HOLDS[@]}"
	DH_HOLDS=()
	for p in "${DH_MADE_DIRS[@]}"; do rmdir "$p" 2>/dev/null || true; done
	DH_MADE_DIRS=()
}

# dh_leftovers BEFORE: what this run left behind on the machine, compared
# with the snapshot BEFORE (empty output: nothing). Call after dh_teardown.
dh_leftovers() {
	local before=$1 now=$WS_TMP/after.snapshot p h
	dh_snapshot "$now"
	for h in "${DH_HOSTS[@]}"; do
		for p in ${DH_DOCKERD[$h]:-} ${DH_MNT[$h]:-} ${DH_ROUTER[$h]:-}; do
			kill -0 "$p" 2>/dev/null && echo "process $p of $h still runs: $(tr '\0' ' ' <"/proc/$p/cmdline")"
		done
		for p in ${DH_IDS[$h]:-}; do
			ls -d /sys/fs/cgroup/*/docker/"$p" /sys/fs/cgroup/docker/"$p" 2>/dev/null | sed 's/^/cgroup left: /'
		done
	done
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		grep -qF "$WS_TMP" "$p/cmdline" 2>/dev/null && echo "process ${p#/proc/} still runs: $(tr '\0' ' ' <"$p/cmdline")"
	done
	ip netns list | grep -F "${WS_PREFIX:-ws-}" | sed 's/^/namespace left: /'
	for h in "${DH_HOST_DIRS[@]}"; do
		[ -e "$h/.wsdk-hold-$WS_ID" ] && echo "file left: $h/.wsdk-hold-$WS_ID"
	done
	diff <(sed -n '/^## mounts/,/^## nft/p' "$before") <(sed -n '/^## mounts/,/^## nft/p' "$now") | sed -n 's/^> /mount left: /p' |
		grep -E "mount left: (/run/docker|/run/weave-switch|/etc/docker|/run/netns/${WS_PREFIX:-ws-}|$WS_TMP)" || true
	diff <(sed -n '/^## links/,/^## mounts/p' "$before") <(sed -n '/^## links/,/^## mounts/p' "$now") | sed -n 's/^> /link left: /p' |
		grep -E 'link left: (docker0|docker_gwbridge|weave.*|br-[0-9a-f]{12}|vethw.*)$' || true
	diff <(sed -n '/^## nft/,$p' "$before") <(sed -n '/^## nft/,$p' "$now") >/dev/null ||
		{ echo "the machine's rules or forwarding changed:"; diff <(sed -n '/^## nft/,$p' "$before") <(sed -n '/^## nft/,$p' "$now"); }
	return 0
}

# dh_wait_links HOST N [SECONDS]: wait until HOST's router has N
# established connections and routes to those neighbours (as wait_links);
# then until its allocator is ready.
dh_wait_links() {
	local h=$1 want=$2 secs=${3:-20} got=0 st reach
	for _ in $(seq $((secs * 10))); do
		st=$(ws_on "$h" status --json 2>/dev/null || true)
		[ -n "$st" ] || st='{}'
		got=$(jq '[.connections[]? | select(.state=="established")] | length' <<<"$st" 2>/dev/null || echo 0)
		reach=$(jq '[.connections[]? | select(.state=="established") | .peer] as $n |
			[.peers[]? | select(.reachable and (.name | IN($n[])))] | length' <<<"$st" 2>/dev/null || echo 0)
		if [ "$got" -ge "$want" ] && [ "$reach" -ge "$want" ] &&
			{ ws_on "$h" status ipam --json 2>/dev/null || true; } | jq -e '.state == "ready"' >/dev/null; then
			return 0
		fi
		sleep 0.1
	done
	ws_on "$h" status connections >&2 || true
	echo "router on $h has $got established connections after ${secs}s, want $want (or its allocator is not ready)" >&2
	return 1
}
