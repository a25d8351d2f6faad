#!/usr/bin/env bash
# Builds the node image with no registry and writes its `docker save`
# tarball: scripts/image.sh [OUT] (default dist/weave-switch-image.tar).
#
# The image is FROM scratch (deploy/image/Dockerfile): static binaries
# (CGO_ENABLED=0) of weave-switch and, when cmd/weave-switch-cni exists,
# weave-switch-cni, plus the nft program and the libraries it links,
# copied from this machine (package nftables). It is tagged
# weave-switch/node:VERSION and weave-switch/node:latest (the tag
# deploy/kubernetes/weave-switch.yaml runs).
#
# With DOCKER_HOST set, that daemon builds it; otherwise the script runs
# a private dockerd in a network namespace of its own for the build and
# stops it by PID (scripts/lib-dockerd.sh). Needs root for that.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib-dockerd.sh

out=${1:-dist/weave-switch-image.tar}
version=${IMAGE_VERSION:-$(git describe --always --dirty 2>/dev/null || echo dev)}
repo=${IMAGE_REPO:-weave-switch/node}
tag=$(printf '%s' "$version" | tr -c 'A-Za-z0-9_.-' '-' | cut -c1-128)
ldflags="-s -w -X github.com/weave-switch/weave-switch/internal/version.Version=$version"

ctx=$(mktemp -d /tmp/ws-image.XXXXXX)
own_dockerd=
cleanup() {
	[ -n "$own_dockerd" ] && dockerd_stop
	rm -rf "$ctx"
}
trap cleanup EXIT

mkdir -p "$ctx/rootfs/usr/bin" "$ctx/rootfs/tmp" "$ctx/rootfs/run" "$ctx/rootfs/var/lib"
chmod 1777 "$ctx/rootfs/tmp"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$ctx/rootfs/usr/bin/weave-switch" ./cmd/weave-switch
if [ -d cmd/weave-switch-cni ]; then
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$ctx/rootfs/usr/bin/weave-switch-cni" ./cmd/weave-switch-cni
	echo "image: with weave-switch-cni" >&2
else
	echo "image: no cmd/weave-switch-cni in this checkout: the image has no CNI plugin (kube-install will say so)" >&2
fi

# nft and its shared libraries (and the dynamic loader) at their paths.
command -v nft >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nftables >/dev/null
nft=$(command -v nft)
for f in "$nft" $(ldd "$nft" | awk '/=>/ {print $3} /^\t\/lib/ {print $1}'); do
	[ -f "$f" ] || continue
	mkdir -p "$ctx/rootfs$(dirname "$f")"
	cp -L "$f" "$ctx/rootfs$f"
done
# The binaries look nft up in PATH (/usr/sbin is in it).
cp deploy/image/Dockerfile "$ctx/Dockerfile"

if [ -z "${DOCKER_HOST:-}" ]; then
	own_dockerd=1
	dockerd_start "ws-image-$$"
fi
DOCKER_BUILDKIT=0 docker build -q --label "org.opencontainers.image.version=$version" -t "$repo:$tag" -t "$repo:latest" "$ctx" >/dev/null
mkdir -p "$(dirname "$out")"
docker save -o "$out.tmp" "$repo:$tag" "$repo:latest"
mv "$out.tmp" "$out"
echo "image: $repo:$tag (and :latest) saved to $out ($(du -h "$out" | cut -f1))" >&2
