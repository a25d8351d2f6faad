#!/usr/bin/env bash
# The node image: scripts/image-test.sh [TARBALL] (default
# dist/weave-switch-image.tar, made by `make image`). As root.
#
#   fresh dockerd (own netns ws-imgt-PID, own roots)
#     docker load TARBALL
#     run IMAGE --version            -> the version the image is labelled with
#     run IMAGE kube-install (-v tmp dirs as the node's CNI dirs)
#                                    -> plugin and conflist on the "node"
#     run -d --network host --privileged IMAGE kube-install -- up ...
#                                    -> the router comes up in dockerd's netns:
#                                       `docker exec ... status` (the probes) answers,
#                                       its socket is on the mounted /run/weave-switch,
#                                       bridge "weave" exists; docker stop removes it
#
# The plugin stages run only when the image holds weave-switch-cni;
# otherwise the test checks that kube-install says it is missing and
# runs `up` directly.
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-dockerd.sh

tarball=${1:-dist/weave-switch-image.tar}
pass=0 fail=0
ok() { echo "PASS: $*"; pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
tmp=$(mktemp -d /tmp/ws-imgt.XXXXXX)
ctr=
cleanup() {
	[ -n "$ctr" ] && docker rm -f "$ctr" >/dev/null 2>&1
	dockerd_stop
	rm -rf "$tmp"
}
trap cleanup EXIT

[ -f "$tarball" ] || { echo "no $tarball: run make image" >&2; exit 1; }
unset DOCKER_HOST
dockerd_start "ws-imgt-$$" || { bad "dockerd started"; echo "$pass passed, $fail failed"; exit 1; }

loaded=$(docker load -i "$tarball" | awk '/Loaded image:/ {print $3}' | grep -v ':latest$' | head -1)
if [ -n "$loaded" ]; then ok "docker load: $loaded"; else bad "docker load"; echo "$pass passed, $fail failed"; exit 1; fi
img=$loaded

want=$(docker image inspect -f '{{index .Config.Labels "org.opencontainers.image.version"}}' "$img")
got=$(docker run --rm "$img" --version 2>&1)
if [ -n "$want" ] && [ "$got" = "weave-switch version $want" ]; then ok "--version: $got"; else bad "--version printed '$got', want version '$want'"; fi

has_cni=
if docker create --name "ws-imgt-probe-$$" "$img" >/dev/null 2>&1 &&
	docker cp "ws-imgt-probe-$$:/usr/bin/weave-switch-cni" "$tmp/cni-probe" >/dev/null 2>&1; then
	has_cni=1
fi
docker rm -f "ws-imgt-probe-$$" >/dev/null 2>&1

mkdir -p "$tmp/bin" "$tmp/net.d" "$tmp/run" "$tmp/data"
if [ -n "$has_cni" ]; then
	if docker run --rm -v "$tmp/bin:/host/opt/cni/bin" -v "$tmp/net.d:/host/etc/cni/net.d" "$img" kube-install >/dev/null 2>&1 &&
		[ -x "$tmp/bin/weave-switch-cni" ] && cmp -s "$tmp/bin/weave-switch-cni" "$tmp/cni-probe" &&
		jq -e '.plugins[0].type == "weave-switch-cni" and .plugins[0].api == "/run/weave-switch/weave-switch.sock"' "$tmp/net.d/10-weave-switch.conflist" >/dev/null; then
		ok "kube-install put the plugin and the conflist on the node"
	else
		bad "kube-install"
	fi
	rm -f "$tmp/bin/weave-switch-cni" "$tmp/net.d/10-weave-switch.conflist"
	cmd=(kube-install -- up)
else
	out=$(docker run --rm -v "$tmp/bin:/host/opt/cni/bin" -v "$tmp/net.d:/host/etc/cni/net.d" "$img" kube-install 2>&1)
	if [[ $out == *"no CNI plugin at /usr/bin/weave-switch-cni"* ]]; then ok "image without the CNI plugin: kube-install says so"; else bad "kube-install without a plugin said: $out"; fi
	cmd=(up)
fi

# The router as the DaemonSet runs it, but with no cluster (no --kube).
ctr=ws-imgt-router-$$
if docker run -d --name "$ctr" --network host --cap-add NET_ADMIN --cap-add SYS_ADMIN --cap-add NET_RAW --security-opt systempaths=unconfined --security-opt apparmor=unconfined --device /dev/net/tun \
	-v "$tmp/bin:/host/opt/cni/bin" -v "$tmp/net.d:/host/etc/cni/net.d" \
	-v "$tmp/run:/run/weave-switch" -v "$tmp/data:/var/lib/weave-switch" \
	"$img" "${cmd[@]}" --insecure --no-docker --nickname imgt --datapath userspace >/dev/null; then
	ok "router container started"
else
	bad "router container started"
fi
up=
for _ in $(seq 120); do
	if docker exec "$ctr" weave-switch status peers --json >"$tmp/peers.json" 2>/dev/null; then up=1; break; fi
	[ "$(docker inspect -f '{{.State.Running}}' "$ctr" 2>/dev/null)" = true ] || break
	sleep 0.5
done
if [ -n "$up" ]; then ok "liveness probe (status peers --json) answers"; else bad "router did not answer; its log:"; docker logs "$ctr" 2>&1 | tail -20; fi
if docker exec "$ctr" weave-switch status --json >"$tmp/status.json" 2>"$tmp/status.err"; then
	ok "readiness probe (status --json) exits 0 on a lone router"
else
	bad "readiness probe: $(cat "$tmp/status.err")"
fi
if [ "$(jq -r .nickname "$tmp/status.json" 2>/dev/null)" = imgt ]; then ok "status shows nickname imgt"; else bad "status: $(head -c 300 "$tmp/status.json")"; fi
if [ -S "$tmp/run/weave-switch.sock" ]; then ok "API socket on the node's /run/weave-switch"; else bad "no socket in the mounted /run/weave-switch"; fi
if [ -n "$has_cni" ]; then
	if [ -x "$tmp/bin/weave-switch-cni" ] && [ -f "$tmp/net.d/10-weave-switch.conflist" ]; then ok "kube-install -- up installed, then ran the router"; else bad "kube-install -- up: nothing installed"; fi
fi
if ip -n "$DOCKERD_NS" link show weave >/dev/null 2>&1; then ok "bridge weave in the host network (dockerd's netns)"; else bad "no bridge weave in dockerd's netns"; fi
docker stop -t 30 "$ctr" >/dev/null
code=$(docker inspect -f '{{.State.ExitCode}}' "$ctr")
if [ "$code" = 0 ]; then ok "router stopped on SIGTERM with exit 0"; else bad "router exit code $code"; docker logs "$ctr" 2>&1 | tail -5; fi
if ! ip -n "$DOCKERD_NS" link show weave >/dev/null 2>&1; then ok "bridge removed on stop"; else bad "bridge left after stop"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
