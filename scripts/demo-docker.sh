#!/usr/bin/env bash
# The weave-switch demo with Docker: two hosts on one LAN, Docker on each,
# a router on each, containers on the two hosts connected.
#
#     web (httpd)   c1                 c2        c3 (through the proxy)
#            \     /                     \      /
#     [dockerd + weave-switch] host1   [dockerd + weave-switch] host2
#              \                             /
#               +------- LAN bridge --------+        198.18.0.0/24
#
# Each host is a network namespace plus a private mount namespace (its own
# /run/docker/plugins, /run/weave-switch and /etc/docker): what two machines
# with Docker installed would be. The image is busybox, imported with no
# registry. Every command a user would type is printed before it runs.
#
# Usage: scripts/demo-docker.sh [--keep]   (also: scripts/demo.sh --docker)
#        --keep: leave it running until Ctrl-C.
# Needs root; installs what it needs; removes everything it made on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "demo: run as root (it creates namespaces, bridges and a dockerd per host)" >&2; exit 1; }
scripts/deps.sh
if [ ! -x bin/weave-switch ] || [ -n "$(find . -name '*.go' -newer bin/weave-switch 2>/dev/null | head -1)" ]; then
	echo "demo: building bin/weave-switch" >&2
	make -s build 2>/dev/null || go build -o bin/weave-switch ./cmd/weave-switch
fi
. scripts/lib.sh
. scripts/docker-lib.sh
exec 3>&1 4>&2
trap 'exec 1>&3 2>&4; dh_teardown; ws_cleanup' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
keep=false
[ "${1:-}" = --keep ] && keep=true

p=wsdd-$WS_ID
WS_PREFIX=$p
IMG=$DH_IMAGE
ok=0 bad=0

# shq ARGS...: ARGS as a shell would need them typed (quoted where needed).
shq() {
	local a out=()
	for a; do
		if [[ $a =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+=("$a"); else out+=("'${a//\'/\'\\\'\'}'"); fi
	done
	echo "${out[*]}"
}
# prompt HOST TEXT: print "hostN$ TEXT", a command as a user types it.
prompt() { printf '\033[1;34mhost%s$\033[0m %s\n' "${1#h}" "$2" >&2; }
# run HOST CMD...: print CMD (weave-switch without its path) and run it on HOST.
run() {
	local h=$1 line; shift
	line=$(shq "$@")
	prompt "$h" "${line//"$WS_BIN"/weave-switch}"
	on_host "$h" "$@"
}
# docker_on HOST ARGS...: print and run `docker ARGS` on HOST, against its
# dockerd (DOCKER_HOST is set on each host, as the default socket would be).
docker_on() {
	local h=$1; shift
	prompt "$h" "docker $(shq "$@")"
	on_host "$h" env DOCKER_HOST="unix://$WS_TMP/$h/docker.sock" docker "$@"
}
# proxy_on HOST ARGS...: the same through HOST's proxy, after
# `eval $(weave-switch env)` there.
declare -A PX=()
proxy_on() {
	local h=$1; shift
	prompt "$h" "docker $(shq "$@")"
	on_host "$h" env DOCKER_HOST="${PX[$h]}" docker "$@"
}
tally() { if "$@"; then ok=$((ok + 1)); else bad=$((bad + 1)); echo "  (failed)" >&2; fi; }

pretty "two hosts on one LAN; Docker on each (dockerd in the host's namespaces)"
dh_lan "$p-lan"
dh_add h1 "$p-h1" 1
dh_add h2 "$p-h2" 2
dh_rootfs
dh_dockerd h1 1
dh_dockerd h2 2
dh_dockerd_wait h1 || fail "dockerd on host1 did not start"
dh_dockerd_wait h2 || fail "dockerd on host2 did not start"
dh_image h1 &
img=$!
dh_image h2 || fail "image import on host2"
wait "$img" || fail "image import on host1"
printf '  dockerd %s on each host; image %s imported (no registry)\n' "$(dk h1 version -f '{{.Server.Version}}')" "$IMG" >&2

pretty "a router on each host: host1 starts the mesh, host2 joins it with host1's token"
echo "  (on each host DOCKER_HOST points at its dockerd; weave-switch up finds it there)" >&2
prompt h1 "weave-switch up --nickname host1"
dh_router h1 --nickname host1 --listen 198.18.0.1:6783 || fail "no router on host1"
token=$(ws_on h1 join-token)
prompt h1 "weave-switch join-token"
echo "$token" >&2
prompt h2 "weave-switch up --nickname host2 --join $token"
dh_router h2 --nickname host2 --listen 198.18.0.2:6783 --join "$token" || fail "no router on host2"
dh_wait_links h1 1 30 || fail "the routers did not connect"
dh_wait_links h2 1 30 || fail "the routers did not connect"
for h in h1 h2; do
	for _ in $(seq 60); do dk "$h" network inspect weave >/dev/null 2>&1 && break; sleep 0.5; done
done
echo "  (the routers made the network weave on their dockerd)" >&2
tally docker_on h1 network ls --filter driver=weave-switch

pretty "plain docker run --network weave on both hosts"
tally docker_on h1 run -d --name web --network weave "$IMG" \
	sh -c 'echo "hello from $(hostname) on host1" >/tmp/index.html; exec httpd -f -p 80 -h /tmp'
tally docker_on h1 run -d --name c1 --network weave "$IMG" sleep 86400
web=$(caddr h1 web || true) c1=$(caddr h1 c1 || true)
printf '  web: %s   c1: %s\n' "${web:-?}" "${c1:-?}" >&2
tally docker_on h2 run --rm --network weave "$IMG" ping -c 3 -W 2 "$c1"
tally docker_on h2 run --rm --network weave "$IMG" wget -qO- "http://$web/"

pretty "the Docker API proxy: eval \$(weave-switch env), then docker as usual"
prompt h2 'eval $(weave-switch env)'
PX[h2]=$(ws_on h2 env | sed -n "s/^export DOCKER_HOST=\([^ ;]*\).*/\1/p" | tr -d "'\"")
echo "  DOCKER_HOST=${PX[h2]}" >&2
tally proxy_on h2 run -d --name c2 -e WEAVE_CIDR=10.32.9.2/12 "$IMG" sleep 86400
tally proxy_on h2 exec c2 ping -c 3 -W 2 "$c1"
tally proxy_on h2 run --rm --name c3 "$IMG" sh -c "ip -4 -o addr show | grep -v ' lo '; wget -qO- http://$web/"

pretty "a router restart loses nothing"
prompt h1 "systemctl restart weave-switch   (here: SIGTERM, then weave-switch up again)"
tally dh_router_restart h1 TERM
tally dh_wait_links h1 1 30
tally proxy_on h2 exec c2 ping -c 3 -W 2 "$c1"
tally docker_on h2 run --rm --network weave "$IMG" wget -qO- "http://$web/"

pretty "weave-switch status on host1"
run h1 "$WS_BIN" status >&2 || true
echo >&2
run h1 "$WS_BIN" status attachments >&2 || true

echo >&2
pretty "demo: $ok steps worked, $bad failed"
if $keep; then
	pretty "running; a shell on host1: nsenter --mount=/proc/${DH_MNT[h1]}/ns/mnt --net=/run/netns/$p-h1 env DOCKER_HOST=unix://$WS_TMP/h1/docker.sock bash   (Ctrl-C here to stop)"
	while sleep 3600; do :; done
fi
[ "$bad" -eq 0 ]
