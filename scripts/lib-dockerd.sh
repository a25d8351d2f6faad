# Sourced by the scripts that need a Docker daemon of their own
# (scripts/image.sh, scripts/image-test.sh): dockerd_start runs a private
# dockerd in a network namespace of its own, with its own data and exec
# roots and socket, and points DOCKER_HOST at it; dockerd_stop stops it by
# PID and removes all it made. Call dockerd_stop from the caller's EXIT
# trap.
#
# nsenter --net, not `ip netns exec`: the latter remounts /sys and hides
# the cgroup hierarchy dockerd needs.

DOCKERD_NS= DOCKERD_PID= DOCKERD_ROOT=

dockerd_start() { # dockerd_start NAME
	local name=$1
	if ! command -v dockerd >/dev/null || ! command -v docker >/dev/null; then
		echo "dockerd: installing docker.io" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io >/dev/null ||
			{ apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends docker.io >/dev/null; }
	fi
	DOCKERD_NS=$name
	DOCKERD_ROOT=$(mktemp -d "/tmp/$name.XXXXXX")
	ip netns add "$DOCKERD_NS"
	ip -n "$DOCKERD_NS" link set lo up
	nsenter --net="/run/netns/$DOCKERD_NS" dockerd --data-root "$DOCKERD_ROOT/data" --exec-root "$DOCKERD_ROOT/exec" \
		--pidfile "$DOCKERD_ROOT/dockerd.pid" -H "unix://$DOCKERD_ROOT/docker.sock" \
		--bip 10.203.1.1/24 --default-address-pool base=10.203.128.0/17,size=24 >"$DOCKERD_ROOT/dockerd.log" 2>&1 &
	DOCKERD_PID=$!
	export DOCKER_HOST="unix://$DOCKERD_ROOT/docker.sock"
	local i
	for i in $(seq 240); do
		docker version >/dev/null 2>&1 && return 0
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.5
	done
	echo "dockerd did not come up; its log:" >&2
	tail -20 "$DOCKERD_ROOT/dockerd.log" >&2
	return 1
}

dockerd_stop() {
	if [ -n "$DOCKERD_PID" ]; then
		kill "$DOCKERD_PID" 2>/dev/null || true
		local i
		for i in $(seq 60); do
			kill -0 "$DOCKERD_PID" 2>/dev/null || break
			sleep 0.5
		done
		kill -9 "$DOCKERD_PID" 2>/dev/null || true
		wait "$DOCKERD_PID" 2>/dev/null || true
		DOCKERD_PID=
	fi
	if [ -n "$DOCKERD_ROOT" ]; then
		# Mounts dockerd left behind (overlay, shm) go before the files.
		grep -F "$DOCKERD_ROOT" /proc/mounts | awk '{print $2}' | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
		rm -rf "$DOCKERD_ROOT"
		DOCKERD_ROOT=
	fi
	if [ -n "$DOCKERD_NS" ]; then
		ip netns del "$DOCKERD_NS" 2>/dev/null || true
		DOCKERD_NS=
	fi
}
