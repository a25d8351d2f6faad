#!/usr/bin/env bash
# The Debian package end to end: install the .deb `make deb` built, check
# what landed (binary, unit, env and config files, man page,
# completions), start the router from the installed binary the way the
# unit does (its ExecStart, with its EnvironmentFile, under a fake
# NOTIFY_SOCKET, in a network namespace: there is no systemd here), check
# it reports ready and answers, reload and stop it as the unit does
# (ExecReload, KillSignal), then `dpkg --purge` and check nothing of the
# package is left.
#
#   scripts/deb-test.sh [PACKAGE.deb]   (default: the newest in dist/)
#
# It refuses to run when a weave-switch package is installed already. The
# router's socket and data directory are unique per run (it runs with
# --no-docker: the Docker sockets have fixed paths). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
deb=${1:-$(ls -t dist/weave-switch_*.deb 2>/dev/null | head -1)}
[ -n "$deb" ] && [ -f "$deb" ] || { echo "deb-test: no package (run make deb)" >&2; exit 1; }
export WEAVE_SWITCH_BIN=/usr/bin/weave-switch
. scripts/lib.sh
[ "$(id -u)" -eq 0 ] || { echo "deb-test: needs root" >&2; exit 1; }
command -v socat >/dev/null || fail "socat missing (scripts/deps.sh installs it)"
if dpkg-query -W -f '${Status}' weave-switch 2>/dev/null | grep -q installed; then
	fail "a weave-switch package is installed already: this test installs and purges its own"
fi
[ ! -e /usr/bin/weave-switch ] || fail "/usr/bin/weave-switch exists outside the package"

installed=no
# dpkg waits for nobody: retry while another dpkg or apt holds its lock.
dpkg_retry() {
	local i
	for i in $(seq 30); do
		"$@" 2>"$WS_TMP/dpkg.err" && return 0
		grep -q 'lock' "$WS_TMP/dpkg.err" || { cat "$WS_TMP/dpkg.err" >&2; return 1; }
		sleep 2
	done
	cat "$WS_TMP/dpkg.err" >&2
	return 1
}
deb_finish() {
	if [ $installed = yes ]; then
		dpkg_retry dpkg --purge weave-switch >/dev/null || true
	fi
	ws_finish deb-test
}
trap deb_finish EXIT

pretty "installing $deb"
dpkg_retry dpkg -i "$deb" >"$WS_TMP/dpkg-install.out"
installed=yes
dpkg-query -L weave-switch | sort >"$WS_TMP/files"
unit=/lib/systemd/system/weave-switch.service

ws_check "dpkg says the package is installed" bash -c "dpkg-query -W -f '\${Status}' weave-switch | grep -q 'install ok installed'"
ws_check "the binary runs and says its version" bash -c "/usr/bin/weave-switch --version | grep -q 'weave-switch version [0-9a-f]'"
ws_check "the CNI plugin is installed in /usr/lib/cni and answers VERSION" bash -c "
	CNI_COMMAND=VERSION /usr/lib/cni/weave-switch-cni </dev/null | jq -e '.supportedVersions | index(\"1.1.0\")' >/dev/null"
ws_check "the binary is static" bash -c "file -L /usr/bin/weave-switch | grep -q 'statically linked' || ! ldd /usr/bin/weave-switch"
ws_check "the unit file landed: Type=notify, reload by SIGHUP, env file, config file" bash -c "
	grep -qx 'Type=notify' $unit && grep -q '^ExecReload=.*-HUP' $unit &&
	grep -qx 'EnvironmentFile=-/etc/default/weave-switch' $unit && grep -q -- '--config /etc/weave-switch/config.yaml' $unit"
if command -v systemd-analyze >/dev/null; then
	ws_check "systemd-analyze verify accepts the unit" bash -c "systemd-analyze verify $unit 2>&1 | grep -v 'Cannot add dependency\|network-online\|docker.service\|nftables.service' | grep -iq 'error' && exit 1 || exit 0"
fi
ws_check "/etc/default/weave-switch and the config file are conffiles" bash -c "
	dpkg-query -W -f '\${Conffiles}' weave-switch | grep -q /etc/default/weave-switch &&
	dpkg-query -W -f '\${Conffiles}' weave-switch | grep -q /etc/weave-switch/config.yaml"
ws_check "the man page is installed" bash -c "[ -f /usr/share/man/man8/weave-switch.8.gz ] && zcat /usr/share/man/man8/weave-switch.8.gz | grep -q '^.TH weave-switch 8'"
ws_check "bash completion completes the commands" bash -c "
	. /usr/share/bash-completion/completions/weave-switch && COMP_WORDS=(weave-switch sta) COMP_CWORD=1 && _weave_switch &&
	printf '%s\n' \"\${COMPREPLY[@]}\" | grep -qx status"
ws_check "zsh and fish completions are installed" test -s /usr/share/zsh/vendor-completions/_weave-switch -a -s /usr/share/fish/vendor_completions.d/weave-switch.fish
ws_check "the licence is installed" grep -q 'Apache License' /usr/share/doc/weave-switch/copyright

pretty "starting the installed router as the unit does, in a namespace"
p=wsd-$WS_ID
ns_add "$p-h"
notify=$WS_TMP/notify.sock
socat -u "UNIX-RECV:$notify" - >"$WS_TMP/notify.out" 2>"$WS_TMP/socat.log" &
WS_PIDS+=("$!")
for _ in $(seq 50); do [ -S "$notify" ] && break; sleep 0.1; done
exec_start=$(sed -n 's/^ExecStart=//p' $unit)
# The unit's environment: its EnvironmentFile, then this run's own paths.
(
	set -a
	. /etc/default/weave-switch
	set +a
	export NOTIFY_SOCKET=$notify WEAVE_SWITCH_API=$WS_TMP/h.sock WEAVE_SWITCH_DATA_DIR=$WS_TMP/h \
		WEAVE_SWITCH_NO_DOCKER=true WEAVE_SWITCH_DATAPATH=userspace
	# shellcheck disable=SC2086 # ExecStart splits $WEAVE_SWITCH_OPTS into words, as systemd does
	exec ip netns exec "$p-h" ${exec_start//\$WEAVE_SWITCH_OPTS/$WEAVE_SWITCH_OPTS}
) >"$WS_TMP/h.log" 2>&1 &
pid=$!
WS_PIDS+=("$pid")
wait_ready() { for _ in $(seq 100); do grep -q 'READY=1' "$WS_TMP/notify.out" && return 0; sleep 0.1; done; return 1; }
ws_check "the router started from the unit's ExecStart reports READY=1" wait_ready
ws_check "the installed router answers (status)" bash -c "/usr/bin/weave-switch status --api $WS_TMP/h.sock; [ \$? -eq 0 ] || [ \$? -eq 3 ]"
ws_check "the installed router made its bridge" ip -n "$p-h" link show weave
kill -HUP "$pid"
ws_check "ExecReload (SIGHUP) reloads the installed config file" bash -c "
	for _ in \$(seq 50); do grep -q 'SIGHUP: reloading the config file.*file=/etc/weave-switch/config.yaml' $WS_TMP/h.log && exit 0; sleep 0.1; done; exit 1"
kill -TERM "$pid"
wait_gone() { for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
ws_check "KillSignal (SIGTERM) stops it" wait_gone
ws_check "it reported STOPPING=1" grep -q 'STOPPING=1' "$WS_TMP/notify.out"
ws_check "it removed its bridge and socket" bash -c "! ip -n $p-h link show weave 2>/dev/null && [ ! -e $WS_TMP/h.sock ]"

pretty "purging the package"
dpkg_retry dpkg --purge weave-switch >"$WS_TMP/dpkg-purge.out"
installed=no
ws_check "dpkg no longer knows the package" bash -c "! dpkg-query -W -f '\${Status}' weave-switch 2>/dev/null | grep -q installed"
ws_check "purge left none of the package's files (nor its conffiles)" bash -c "
	left=\$(while read -r f; do [ -f \"\$f\" ] && echo \"\$f\"; done <$WS_TMP/files); [ -z \"\$left\" ] || { echo \"\$left\"; exit 1; }"
ws_check "purge left no /etc/weave-switch, /etc/default/weave-switch or /var/lib/weave-switch" \
	bash -c "[ ! -e /etc/weave-switch ] && [ ! -e /etc/default/weave-switch ] && [ ! -e /var/lib/weave-switch ]"
