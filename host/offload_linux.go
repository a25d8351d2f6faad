package host

import (
	"golang.org/x/sys/unix"
)

// setOffloads enables checksum offload and TSO, and USO where the kernel
// has it (6.2 and later), on a TAP opened with IFF_VNET_HDR.
func setOffloads(fd int) error {
	base := unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6
	if err := unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, base|unix.TUN_F_USO4|unix.TUN_F_USO6); err == nil {
		return nil
	}
	return unix.IoctlSetInt(fd, unix.TUNSETOFFLOAD, base)
}
