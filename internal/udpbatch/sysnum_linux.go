//go:build linux && (amd64 || arm64 || riscv64 || ppc64le || s390x || loong64)

package udpbatch

import "golang.org/x/sys/unix"

// sysSendmmsg is sendmmsg(2)'s number (the syscall package lacks it on
// amd64). The Writer fills Msghdr.Iovlen as a uint64, so it is built for
// 64-bit Linux only.
const sysSendmmsg = unix.SYS_SENDMMSG
