#!/usr/bin/env bash
# Builds the weave-switch .deb with dpkg-deb from a static binary and the
# generated docs (make dist): deploy/debian/build.sh BINARY CNI_PLUGIN DISTDIR.
# The package holds the router, the CNI plugin in /usr/lib/cni (where
# Debian's CNI plugins live; runtimes that look in /opt/cni/bin get it
# from `weave-switch kube-install` or a symlink), the systemd unit, /etc/default/weave-switch,
# /etc/weave-switch/config.yaml (both conffiles), the man page, the bash,
# zsh and fish completions and the licence. It writes
# DISTDIR/weave-switch_VERSION_ARCH.deb and prints its path.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ $# -eq 3 ] || { echo "usage: build.sh BINARY CNI_PLUGIN DISTDIR" >&2; exit 2; }
bin=$1 cni=$2 dist=$3
[ -x "$bin" ] || { echo "build.sh: no binary at $bin" >&2; exit 1; }
[ -x "$cni" ] || { echo "build.sh: no CNI plugin at $cni" >&2; exit 1; }
arch=${DEB_ARCH:-$(dpkg --print-architecture)}

# The binary's version as a Debian version: v1.2.3 -> 1.2.3; a commit
# (0123456789ab[-dirty]) -> 0.0~git0123456789ab[+dirty].
v=$("$bin" --version | awk '{print $NF}')
case $v in
v[0-9]*) version=${v#v} ;;
[0-9]*.*) version=$v ;;
*) version=0.0~git${v//-/+} ;;
esac
version=${version//[^A-Za-z0-9.+~]/+}

root=$(mktemp -d)
chmod 0755 "$root"
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$bin" "$root/usr/bin/weave-switch"
install -D -m 0755 "$cni" "$root/usr/lib/cni/weave-switch-cni"
install -D -m 0644 deploy/systemd/weave-switch.service "$root/lib/systemd/system/weave-switch.service"
install -D -m 0644 deploy/systemd/weave-switch.default "$root/etc/default/weave-switch"
install -D -m 0644 deploy/systemd/config.yaml "$root/etc/weave-switch/config.yaml"
install -D -m 0644 "$dist/man/weave-switch.8" "$root/usr/share/man/man8/weave-switch.8"
gzip -9n "$root/usr/share/man/man8/weave-switch.8"
install -D -m 0644 "$dist/completion/weave-switch.bash" "$root/usr/share/bash-completion/completions/weave-switch"
install -D -m 0644 "$dist/completion/_weave-switch" "$root/usr/share/zsh/vendor-completions/_weave-switch"
install -D -m 0644 "$dist/completion/weave-switch.fish" "$root/usr/share/fish/vendor_completions.d/weave-switch.fish"
install -D -m 0644 LICENSE "$root/usr/share/doc/weave-switch/copyright"

mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: weave-switch
Version: $version
Architecture: $arch
Maintainer: weave-switch developers <weave-switch@localhost>
Installed-Size: $size
Depends: iproute2, nftables
Section: net
Priority: optional
Homepage: https://github.com/weave-switch/weave-switch
Description: one virtual Ethernet switch for the containers of many hosts
 weave-switch connects the containers of many hosts to one Layer 2
 network, as Weave Net did: a router on each host, encrypted links,
 address management without a central server, isolation between
 application subnets and a kernel fast path. The package ships the
 router as a systemd service (Type=notify), not enabled: set the peers in
 /etc/default/weave-switch or /etc/weave-switch/config.yaml, then
 systemctl enable --now weave-switch.
CONTROL
printf '/etc/default/weave-switch\n/etc/weave-switch/config.yaml\n' >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
SCRIPT
cat >"$root/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
# A router the service runs stops before its binary goes.
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl stop weave-switch.service || true
	systemctl disable weave-switch.service >/dev/null 2>&1 || true
fi
SCRIPT
cat >"$root/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
# Purge removes the state too: the peer's identity, its secret and its
# address database (the service's StateDirectory), and the config dir.
if [ "$1" = purge ]; then
	rm -rf /var/lib/weave-switch /run/weave-switch
	rmdir /etc/weave-switch 2>/dev/null || true
fi
SCRIPT
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
out=$dist/weave-switch_${version}_$arch.deb
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out"
