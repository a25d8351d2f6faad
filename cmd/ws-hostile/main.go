// Command ws-hostile is the attacker of scripts/netns-hostile-test.sh: run
// in a namespace on the routers' underlay, it sends what a hostile host
// there can send. It is a test tool, built only by that script.
//
//	ws-hostile sleeve -to IP:PORT -kind KIND [-spoof IP:PORT] [-n N] [frame flags]
//	    datagrams in the sleeve wire format (see transport/sleeve), made with
//	    the package's own encoder: KIND is forged (a frame for the bridge),
//	    sealed (the encrypted flag, a counter and random bytes), gso (a frame
//	    with a bogus offload descriptor), oversize, truncated or short. With
//	    -spoof the datagrams leave a raw socket with that source address and
//	    port; otherwise from a UDP socket of the attacker's own address.
//	ws-hostile vxlan -to IP:PORT [-n N] [frame flags]
//	    vxlan datagrams (the kernel fast path's encapsulation) around a frame.
//	ws-hostile replay -iface IF -port PORT -for DURATION [-own]
//	    captures the UDP datagrams to PORT that IF sees (an AF_PACKET socket:
//	    the underlay floods them to every port) for DURATION, then sends
//	    each again to its destination, from its original source address
//	    (a raw socket) or, with -own, from the attacker's.
//	ws-hostile flood -to IP:PORT -from IP,IP,... -conns N -for DURATION
//	    keeps N TCP connections per source address open to IP:PORT, opening
//	    a new one whenever one is closed; half of them send 64 random bytes
//	    (a handshake that cannot succeed), the others nothing.
//	ws-hostile gossip -to IP:PORT [-claim NAME] [-name NAME [-ahead NAME] [-fakes N] [-hold D]]
//	    control handshakes without a secret (gossip/handshake), announcing
//	    what a router does. With -claim, one under a peer's name, which is
//	    expected to be closed at once. With -name, one under a fresh name,
//	    on which it sends a topology entry for the peer -ahead stamped
//	    (MaxUint64, MaxUint64), then one message of N fake peers' entries,
//	    each a dial target for the previous one, and holds the connection
//	    for D. A handshake that fails is an error.
//
// Frame flags: -sender (the peer name in the datagram header), -src-peer,
// -dst-peer, -mac (the frame's source MAC), -ip-src, -ip-dst.
package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/handshake"
	"github.com/weave-switch/weave-switch/gossip/topology"
	"github.com/weave-switch/weave-switch/transport/sleeve"
)

func main() {
	if len(os.Args) < 2 {
		fatalf("usage: ws-hostile sleeve|vxlan|replay|flood|gossip [flags]")
	}
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "sleeve":
		err = sleeveCmd(args)
	case "vxlan":
		err = vxlanCmd(args)
	case "replay":
		err = replayCmd(args)
	case "flood":
		err = floodCmd(args)
	case "gossip":
		err = gossipCmd(args)
	default:
		err = fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fatalf("ws-hostile %s: %v", os.Args[1], err)
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(2)
}

// frameFlags are the flags that describe the forged Ethernet frame.
type frameFlags struct {
	sender, srcPeer, dstPeer, mac, ipSrc, ipDst *string
}

func addFrameFlags(fs *flag.FlagSet) frameFlags {
	return frameFlags{
		sender:  fs.String("sender", "02:00:00:00:00:01", "peer name in the datagram header"),
		srcPeer: fs.String("src-peer", "", "peer name that captured the frame (default: -sender)"),
		dstPeer: fs.String("dst-peer", "", "destination peer name (default: none, a flooded frame)"),
		mac:     fs.String("mac", "02:66:66:66:66:66", "the frame's source MAC"),
		ipSrc:   fs.String("ip-src", "10.66.66.66", "the frame's IPv4 source"),
		ipDst:   fs.String("ip-dst", "255.255.255.255", "the frame's IPv4 destination"),
	}
}

// build returns the frame and its Meta.
func (f frameFlags) build() (frame.Meta, frame.PeerName, []byte, error) {
	sender, err := frame.ParsePeerName(*f.sender)
	if err != nil {
		return frame.Meta{}, 0, nil, err
	}
	src := sender
	if *f.srcPeer != "" {
		if src, err = frame.ParsePeerName(*f.srcPeer); err != nil {
			return frame.Meta{}, 0, nil, err
		}
	}
	var dst frame.PeerName // zero: a flooded frame
	if *f.dstPeer != "" {
		if dst, err = frame.ParsePeerName(*f.dstPeer); err != nil {
			return frame.Meta{}, 0, nil, err
		}
	}
	mac, err := net.ParseMAC(*f.mac)
	if err != nil {
		return frame.Meta{}, 0, nil, err
	}
	ipSrc, err := netip.ParseAddr(*f.ipSrc)
	if err != nil {
		return frame.Meta{}, 0, nil, err
	}
	ipDst, err := netip.ParseAddr(*f.ipDst)
	if err != nil {
		return frame.Meta{}, 0, nil, err
	}
	return frame.Meta{Src: src, Dst: dst}, sender, ethernetUDP(mac, ipSrc, ipDst, 9, []byte("hostile frame")), nil
}

// ethernetUDP returns a broadcast Ethernet frame from mac carrying an IPv4
// UDP datagram.
func ethernetUDP(mac net.HardwareAddr, src, dst netip.Addr, port uint16, payload []byte) []byte {
	b := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	b = append(b, mac...)
	b = append(b, 0x08, 0x00)
	return append(b, ipv4UDP(src, dst, port, port, payload)...)
}

// ipv4UDP returns an IPv4 packet holding a UDP datagram (no UDP checksum).
func ipv4UDP(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	n := 20 + 8 + len(payload)
	b := make([]byte, 28, n)
	b[0], b[8], b[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(b[2:], uint16(n))
	s, d := src.As4(), dst.As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	binary.BigEndian.PutUint16(b[10:], ipChecksum(b[:20]))
	binary.BigEndian.PutUint16(b[20:], sport)
	binary.BigEndian.PutUint16(b[22:], dport)
	binary.BigEndian.PutUint16(b[24:], uint16(8+len(payload)))
	return append(b, payload...)
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// sender sends datagrams to one address, from the attacker's own UDP
// socket or, spoofed, from a raw socket.
type sender struct {
	to    netip.AddrPort
	spoof netip.AddrPort
	udp   *net.UDPConn
	raw   int
	// refused counts the sends that reported an ICMP port unreachable.
	refused int
}

func newSender(to, spoof string) (*sender, error) {
	ap, err := netip.ParseAddrPort(to)
	if err != nil {
		return nil, err
	}
	s := &sender{to: ap, raw: -1}
	if spoof == "" {
		s.udp, err = net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(ap))
		return s, err
	}
	if s.spoof, err = netip.ParseAddrPort(spoof); err != nil {
		return nil, err
	}
	s.raw, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW)
	return s, err
}

// send sends one datagram. An ICMP port unreachable for an earlier one
// (ECONNREFUSED on the connected socket) is counted, not an error.
func (s *sender) send(payload []byte) error {
	if s.udp != nil {
		_, err := s.udp.Write(payload)
		if errors.Is(err, syscall.ECONNREFUSED) {
			s.refused++
			return nil
		}
		return err
	}
	return sendSpoofed(s.raw, s.spoof, s.to, payload)
}

// sendSpoofed sends payload in a UDP datagram from src to dst through the
// raw socket fd (IP_HDRINCL): the kernel takes the source address as
// given. A datagram bigger than the underlay MTU is cut into IP fragments.
func sendSpoofed(fd int, src, dst netip.AddrPort, payload []byte) error {
	pkt := ipv4UDP(src.Addr(), dst.Addr(), src.Port(), dst.Port(), payload)
	to := &syscall.SockaddrInet4{Addr: dst.Addr().As4()}
	const mtu = 1500
	if len(pkt) <= mtu {
		return syscall.Sendto(fd, pkt, 0, to)
	}
	var idb [2]byte
	_, _ = rand.Read(idb[:])
	data := pkt[20:]
	for off := 0; off < len(data); {
		n := min(len(data)-off, (mtu-20)&^7)
		h := make([]byte, 20, 20+n)
		copy(h, pkt[:20])
		copy(h[4:6], idb[:])
		fo := uint16(off / 8)
		if off+n < len(data) {
			fo |= 0x2000 // more fragments
		}
		binary.BigEndian.PutUint16(h[6:], fo)
		binary.BigEndian.PutUint16(h[2:], uint16(20+n))
		h[10], h[11] = 0, 0
		binary.BigEndian.PutUint16(h[10:], ipChecksum(h))
		if err := syscall.Sendto(fd, append(h, data[off:off+n]...), 0, to); err != nil {
			return err
		}
		off += n
	}
	return nil
}

func sleeveCmd(args []string) error {
	fs := flag.NewFlagSet("sleeve", flag.ExitOnError)
	to := fs.String("to", "", "destination IP:PORT")
	spoof := fs.String("spoof", "", "source IP:PORT to forge (raw socket)")
	kind := fs.String("kind", "forged", "forged|sealed|gso|oversize|truncated|short")
	n := fs.Int("n", 10, "datagrams to send")
	ff := addFrameFlags(fs)
	_ = fs.Parse(args)
	meta, name, fr, err := ff.build()
	if err != nil {
		return err
	}
	s, err := newSender(*to, *spoof)
	if err != nil {
		return err
	}
	for i := range *n {
		var d []byte
		switch *kind {
		case "forged":
			d = sleeve.AppendFrame(sleeve.AppendHeader(nil, name), meta, fr)
		case "sealed":
			d = sleeve.AppendHeaderFlags(nil, name, sleeve.FlagEncrypted)
			d = binary.BigEndian.AppendUint64(d, uint64(1<<40+i))
			junk := make([]byte, sleeve.FrameHeaderSize+len(fr)+sleeve.TagSize)
			_, _ = rand.Read(junk)
			d = append(d, junk...)
		case "gso":
			// Offload descriptors the receiver's kernel must never see:
			// offsets past the frame, a super-frame type without a
			// segment size, unknown flag bits.
			bad := []frame.GSO{
				{Flags: frame.GSOFlagNeedsCsum, Type: frame.GSOTCPv4, HdrLen: 60000, Size: 0, CsumStart: 60000, CsumOffset: 60000},
				{Flags: frame.GSOFlagNeedsCsum, Type: frame.GSOTCPv4, HdrLen: 54, Size: 0, CsumStart: 34, CsumOffset: 16},
				{Flags: 0xf0, Type: frame.GSOUDP, HdrLen: 42, Size: 1400},
			}
			m := meta
			m.GSO = bad[i%len(bad)]
			d = sleeve.AppendFrameGSO(sleeve.AppendHeaderFlags(nil, name, sleeve.FlagGSO), m, fr)
		case "oversize":
			big := append(fr[:len(fr):len(fr)], make([]byte, frame.MaxFrameSize)...)
			d = sleeve.AppendFrame(sleeve.AppendHeader(nil, name), meta, big[:frame.MaxFrameSize])
			d = append(d, make([]byte, 600)...)
		case "truncated":
			d = sleeve.AppendFrame(sleeve.AppendHeader(nil, name), meta, fr)
			d = d[:len(d)-5] // the frame length now runs past the end
		case "short":
			d = sleeve.AppendHeader(nil, name)[:3]
		default:
			return fmt.Errorf("unknown kind %q", *kind)
		}
		if err := s.send(d); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
	fmt.Printf("sent %d %s datagrams to %s (port unreachable: %d)\n", *n, *kind, *to, s.refused)
	return nil
}

func vxlanCmd(args []string) error {
	fs := flag.NewFlagSet("vxlan", flag.ExitOnError)
	to := fs.String("to", "", "destination IP:PORT")
	vni := fs.Uint("vni", 0x7773, "vxlan network identifier")
	n := fs.Int("n", 10, "datagrams to send")
	ff := addFrameFlags(fs)
	_ = fs.Parse(args)
	_, _, fr, err := ff.build()
	if err != nil {
		return err
	}
	s, err := newSender(*to, "")
	if err != nil {
		return err
	}
	d := make([]byte, 8, 8+len(fr))
	d[0] = 0x08 // the VNI is valid
	binary.BigEndian.PutUint32(d[4:], uint32(*vni)<<8)
	d = append(d, fr...)
	for range *n {
		if err := s.send(d); err != nil {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
	fmt.Printf("sent %d vxlan datagrams to %s (port unreachable: %d)\n", *n, *to, s.refused)
	return nil
}

type captured struct {
	src, dst netip.AddrPort
	payload  []byte
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func replayCmd(args []string) error {
	fs := flag.NewFlagSet("replay", flag.ExitOnError)
	ifname := fs.String("iface", "", "interface to capture on")
	port := fs.Int("port", 6783, "UDP destination port to capture")
	dur := fs.Duration("for", 3*time.Second, "how long to capture")
	own := fs.Bool("own", false, "replay from the attacker's own address")
	_ = fs.Parse(args)
	ifi, err := net.InterfaceByName(*ifname)
	if err != nil {
		return err
	}
	fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW, int(htons(syscall.ETH_P_ALL)))
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Protocol: htons(syscall.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
		return err
	}
	tv := syscall.NsecToTimeval(int64(100 * time.Millisecond))
	if err := syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv); err != nil {
		return err
	}
	var caps []captured
	buf := make([]byte, 65536)
	for end := time.Now().Add(*dur); time.Now().Before(end) && len(caps) < 10000; {
		n, _, err := syscall.Recvfrom(fd, buf, 0)
		if err != nil {
			continue // the receive timeout
		}
		if c, ok := parseUDP(buf[:n], uint16(*port)); ok {
			caps = append(caps, c)
		}
	}
	raw := -1
	if !*own {
		if raw, err = syscall.Socket(syscall.AF_INET, syscall.SOCK_RAW, syscall.IPPROTO_RAW); err != nil {
			return err
		}
		defer syscall.Close(raw)
	}
	sent := 0
	for _, c := range caps {
		if *own {
			conn, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(c.dst))
			if err != nil {
				return err
			}
			_, err = conn.Write(c.payload)
			conn.Close()
			if err != nil {
				return err
			}
		} else if err := sendSpoofed(raw, c.src, c.dst, c.payload); err != nil {
			return err
		}
		sent++
	}
	fmt.Printf("captured %d datagrams to port %d, replayed %d\n", len(caps), *port, sent)
	if len(caps) == 0 {
		return fmt.Errorf("captured nothing on %s", *ifname)
	}
	return nil
}

// parseUDP picks an unfragmented IPv4 UDP datagram to port out of an
// Ethernet frame.
func parseUDP(f []byte, port uint16) (captured, bool) {
	if len(f) < 14+20+8 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return captured{}, false
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ip[0]>>4 != 4 || ip[9] != 17 || ihl < 20 || total > len(ip) || total < ihl+8 ||
		binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return captured{}, false
	}
	udp := ip[ihl:total]
	if binary.BigEndian.Uint16(udp[2:]) != port {
		return captured{}, false
	}
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:]))
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:]))
	return captured{src: src, dst: dst, payload: append([]byte(nil), udp[8:]...)}, true
}

func floodCmd(args []string) error {
	fs := flag.NewFlagSet("flood", flag.ExitOnError)
	to := fs.String("to", "", "destination IP:PORT")
	from := fs.String("from", "", "source addresses, comma-separated")
	conns := fs.Int("conns", 50, "connections kept open per source address")
	dur := fs.Duration("for", 10*time.Second, "how long to flood")
	_ = fs.Parse(args)
	var attempts, opened atomic.Uint64
	var wg sync.WaitGroup
	end := time.Now().Add(*dur)
	for _, a := range strings.Split(*from, ",") {
		la, err := net.ResolveTCPAddr("tcp4", a+":0")
		if err != nil {
			return err
		}
		d := net.Dialer{LocalAddr: la, Timeout: time.Second}
		for i := range *conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 64)
				for time.Now().Before(end) {
					attempts.Add(1)
					c, err := d.Dial("tcp4", *to)
					if err != nil {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					opened.Add(1)
					if i%2 == 1 {
						// Half the connections start a handshake with
						// random bytes; the others say nothing.
						_, _ = rand.Read(buf)
						_, _ = c.Write(buf)
					}
					// Hold it until the router closes it or the flood ends.
					_ = c.SetReadDeadline(end)
					for {
						if _, err := c.Read(buf); err != nil {
							break
						}
					}
					c.Close()
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
	}
	wg.Wait()
	fmt.Printf("flood: %d connection attempts, %d opened\n", attempts.Load(), opened.Load())
	return nil
}

// The control plane's message type for topology entries and the
// capabilities a router announces (see gossip/mesh and transport/sleeve).
const (
	msgEntries = 1
	capControl = "ctl.port"
	capTrans   = "transports"
)

// dialControl completes a control handshake without a secret with the
// router at to, under name.
func dialControl(to string, name frame.PeerName) (*handshake.Conn, error) {
	nc, err := net.DialTimeout("tcp4", to, 5*time.Second)
	if err != nil {
		return nil, err
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	hc, err := handshake.Client(context.Background(), nc, handshake.Config{
		Name: name, Nickname: "hostile", UID: binary.BigEndian.Uint64(b[:]) | 1, Incarnation: uint64(time.Now().UnixNano()),
		Caps: map[string]string{capControl: "6783", capTrans: "sleeve", sleeve.CapPort: "6783"},
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("handshake as %s: %w", name, err)
	}
	return hc, nil
}

// drain reads and discards what the router sends until the connection
// closes, then reports the error on the channel.
func drain(hc *handshake.Conn) <-chan error {
	done := make(chan error, 1)
	go func() {
		var buf []byte
		for {
			_, p, err := hc.ReadMsg(buf)
			if err != nil {
				done <- err
				return
			}
			buf = p[:0]
		}
	}()
	return done
}

func gossipCmd(args []string) error {
	fs := flag.NewFlagSet("gossip", flag.ExitOnError)
	to := fs.String("to", "", "the router's control address IP:PORT")
	claim := fs.String("claim", "", "a peer's name to claim")
	fresh := fs.String("name", "", "a fresh peer name to gossip under")
	ahead := fs.String("ahead", "", "the peer whose entry to send with maximum stamps")
	fakes := fs.Int("fakes", 0, "fake peers to send in one message")
	hold := fs.Duration("hold", 3*time.Second, "how long to hold the fresh connection")
	_ = fs.Parse(args)
	if *claim != "" {
		name, err := frame.ParsePeerName(*claim)
		if err != nil {
			return err
		}
		hc, err := dialControl(*to, name)
		if err != nil {
			return err
		}
		select {
		case err := <-drain(hc):
			fmt.Printf("claim of %s: closed by the router (%v)\n", name, err)
		case <-time.After(5 * time.Second):
			hc.Close()
			return fmt.Errorf("claim of %s: the connection is still open after 5 s", name)
		}
	}
	if *fresh == "" {
		return nil
	}
	name, err := frame.ParsePeerName(*fresh)
	if err != nil {
		return err
	}
	hc, err := dialControl(*to, name)
	if err != nil {
		return err
	}
	defer hc.Close()
	closed := drain(hc)
	fmt.Printf("connected as %s\n", name)
	if *ahead != "" {
		peer, err := frame.ParsePeerName(*ahead)
		if err != nil {
			return err
		}
		e := topology.Entry{
			Name: peer, Nickname: "hostile", UID: 1, Incarnation: math.MaxUint64, Version: math.MaxUint64,
			Caps: map[string]string{capControl: "6783"},
		}
		if err := hc.WriteMsg(msgEntries, topology.AppendEntry(nil, e)); err != nil {
			return err
		}
		fmt.Printf("sent %s's entry stamped (MaxUint64, MaxUint64)\n", peer)
	}
	if *fakes > 0 {
		msg := fakePeers(*fakes)
		if err := hc.WriteMsg(msgEntries, msg); err != nil {
			return err
		}
		fmt.Printf("sent %d fake peers in one message of %d bytes\n", *fakes, len(msg))
	}
	select {
	case err := <-closed:
		fmt.Printf("closed by the router after the gossip (%v)\n", err)
	case <-time.After(*hold):
	}
	return nil
}

// fakePeers encodes n entries of made-up peers back to back (one
// message): each announces a control port and an established connection
// to the next at an address of 10.200.0.0/16, so that every one is a dial
// target.
func fakePeers(n int) []byte {
	const base = frame.PeerName(0x02aa00000000)
	inc := uint64(time.Now().UnixNano())
	caps := map[string]string{capControl: "6783"}
	var b []byte
	for i := range n {
		next := (i + 1) % n
		e := topology.Entry{
			Name: base + frame.PeerName(i), UID: uint64(i) + 1, Incarnation: inc, Version: 1, Caps: caps,
			Conns: []topology.Conn{{
				Peer: base + frame.PeerName(next), Established: true, Outbound: true,
				Addr: fmt.Sprintf("10.200.%d.%d:6783", next/250, next%250+1),
			}},
		}
		b = topology.AppendEntry(b, e)
	}
	return b
}
