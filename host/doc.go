// Package host is the host side of a router: the Linux bridge that
// containers plug into, the TAP port through which the router sees the
// bridge's traffic, and the veth pairs that attach network namespaces
// (containers) to the bridge. It talks to the kernel over netlink
// (github.com/vishvananda/netlink) and, for the TAP, over /dev/net/tun.
//
// Everything here needs CAP_NET_ADMIN. Functions that create kernel objects
// roll back what they created when a later step fails, so an error leaves
// nothing behind.
package host
