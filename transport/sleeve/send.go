package sleeve

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"

	"golang.org/x/net/ipv4"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// sendState is the scratch of one Send call: the sendmmsg message vector,
// the arena that packed datagrams are copied into and the destination
// address. It is allocated once and reused (see getSendState).
type sendState struct {
	msgs   []ipv4.Message // msgs[i].Buffers is bufs[i:i+1], msgs[i].Addr is &ua
	bufs   [][]byte
	frames []int // frames in datagram i
	arena  []byte
	ua     net.UDPAddr
	ip     [16]byte // backs ua.IP
}

func (s *Sleeve) newSendState() *sendState {
	n := s.cfg.BatchSize
	st := &sendState{
		msgs:   make([]ipv4.Message, n),
		bufs:   make([][]byte, n),
		frames: make([]int, n),
	}
	// Packed datagrams hold at least 2 frames, so n/2+1 of them cover a
	// batch; bound the arena anyway (Send flushes early when it is full).
	limit := min(s.cfg.UnderlayMTU-ipv4UDPOverhead, MaxDatagramSize)
	st.arena = make([]byte, 0, max(limit, min((n/2+1)*limit, 256<<10)))
	for i := range st.msgs {
		st.msgs[i].Buffers = st.bufs[i : i+1 : i+1]
		st.msgs[i].Addr = &st.ua
	}
	return st
}

// setDst points st.ua at ap without allocating.
func (st *sendState) setDst(ap netip.AddrPort) {
	a := ap.Addr()
	if a.Is4() || a.Is4In6() {
		v := a.Unmap().As4()
		st.ua.IP = st.ip[:4]
		copy(st.ua.IP, v[:])
		st.ua.Zone = ""
	} else {
		v := a.As16()
		st.ua.IP = st.ip[:16]
		copy(st.ua.IP, v[:])
		st.ua.Zone = a.Zone()
	}
	st.ua.Port = int(ap.Port())
}

// getSendState takes a free send state, creates one if fewer than
// cap(s.free) exist, or else waits for one to be put back. So concurrent
// Sends run in parallel up to cap(s.free) (GOMAXPROCS, 2 to 8) and queue
// behind that; nothing is allocated once the states exist.
func (s *Sleeve) getSendState() *sendState {
	select {
	case st := <-s.free:
		return st
	default:
	}
	if s.nStates.Add(1) <= int32(cap(s.free)) {
		return s.newSendState()
	}
	s.nStates.Add(-1)
	return <-s.free
}

func (s *Sleeve) putSendState(st *sendState) {
	clear(st.bufs) // drop references to the caller's batch
	s.free <- st
}

// Send implements transport.Transport.Send. It packs consecutive frames
// of b into datagrams of at most the packing limit (see Config.UnderlayMTU)
// and writes them with one sendmmsg per BatchSize datagrams, looping on
// partial writes. A datagram of one frame is built in place: its headers
// are written in the headroom in front of the frame (b.Offset must be at
// least HeaderSize+FrameHeaderSize; transport.MaxOverhead is), so the frame
// is not copied; packed frames are copied into preallocated scratch. The
// frames themselves are left intact and the caller keeps b.
//
// A frame shorter than frame.EthernetHeaderSize or longer than
// frame.MaxFrameSize is skipped, the others are sent, and Send returns an
// *transport.OpError naming the first bad one. Socket errors are returned
// as *transport.OpError; after Close, Send returns transport.ErrClosed.
// Send is safe for concurrent use and does not allocate in steady state.
func (s *Sleeve) Send(b *frame.Batch, ep transport.Endpoint) error {
	if s.closed.Load() {
		return transport.ErrClosed
	}
	sk := s.sock.Load()
	if sk == nil {
		return s.opError("send", ep.String(), errNotOpen)
	}
	if b.N == 0 {
		return nil
	}
	const hdr = HeaderSize + FrameHeaderSize
	if b.Offset < hdr {
		return s.opError("send", ep.String(), fmt.Errorf("batch headroom %d is less than %d bytes", b.Offset, hdr))
	}
	dst := ep.DstAddrPort()
	limit := s.datagramLimit(dst.Addr())
	st := s.getSendState()
	defer s.putSendState(st)
	st.setDst(dst)

	bad, nm, arena := -1, 0, st.arena[:0]
	for i := 0; i < b.N; {
		size := b.Sizes[i]
		if !validFrameSize(size) {
			if bad < 0 {
				bad = i
			}
			i++
			continue
		}
		// Frames [i, j) go in this datagram of total bytes.
		total, j := hdr+size, i+1
		for j < b.N && validFrameSize(b.Sizes[j]) && total+FrameHeaderSize+b.Sizes[j] <= limit {
			total += FrameHeaderSize + b.Sizes[j]
			j++
		}
		if j == i+1 {
			d := b.Bufs[i][b.Offset-hdr : b.Offset+size]
			putHeader(d, s.cfg.Self)
			putFrameHeader(d[HeaderSize:], b.Meta[i], size)
			st.bufs[nm] = d
		} else {
			if cap(arena)-len(arena) < total {
				if err := s.flush(sk, st, nm, ep); err != nil {
					return err
				}
				nm, arena = 0, arena[:0]
			}
			lo := len(arena)
			arena = AppendHeader(arena, s.cfg.Self)
			for k := i; k < j; k++ {
				arena = AppendFrame(arena, b.Meta[k], b.Frame(k))
			}
			st.bufs[nm] = arena[lo:]
		}
		st.frames[nm] = j - i
		nm++
		i = j
		if nm == len(st.msgs) {
			if err := s.flush(sk, st, nm, ep); err != nil {
				return err
			}
			nm, arena = 0, arena[:0]
		}
	}
	if err := s.flush(sk, st, nm, ep); err != nil {
		return err
	}
	if bad >= 0 {
		return s.opError("send", ep.String(), fmt.Errorf("frame %d: size %d out of range [%d, %d]",
			bad, b.Sizes[bad], frame.EthernetHeaderSize, frame.MaxFrameSize))
	}
	return nil
}

// flush writes datagrams st.bufs[:nm], looping on partial writes.
func (s *Sleeve) flush(sk *socket, st *sendState, nm int, ep transport.Endpoint) error {
	for done := 0; done < nm; {
		n, err := sk.bw.WriteBatch(st.msgs[done:nm], 0)
		var frames, bytes int
		for i := done; i < done+n; i++ {
			frames += st.frames[i]
			bytes += len(st.bufs[i])
		}
		s.stats.sentDatagrams.Add(uint64(n))
		s.stats.sentFrames.Add(uint64(frames))
		s.stats.sentBytes.Add(uint64(bytes))
		switch {
		case err != nil && (s.closed.Load() || errors.Is(err, net.ErrClosed)):
			return transport.ErrClosed
		case err != nil:
			return s.opError("send", ep.String(), err)
		case n == 0:
			return s.opError("send", ep.String(), io.ErrShortWrite)
		}
		done += n
	}
	return nil
}
