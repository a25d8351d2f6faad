package sleeve

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/fragment"
	"github.com/weave-switch/weave-switch/internal/udpbatch"
	"github.com/weave-switch/weave-switch/transport"
)

// Send scratch. A send state's arena holds packed datagrams and the
// fragments of frames too big for a datagram, back to back: 512 KiB is
// about 7 maximal super-frames at UnderlayMTU 1500, and more than the
// fragments of one (71 KiB at the smallest MTU, 576).
const (
	sendArenaSize = 512 << 10
	// maxGSOSegments bounds the datagrams of one UDP_SEGMENT send: the
	// kernel's UDP_MAX_SEGMENTS is 64 before Linux 6.9 (128 after).
	maxGSOSegments = 64
	// maxGSOBytes bounds the UDP payload of one UDP_SEGMENT send (a 64 KiB
	// IP packet less the IPv4 and UDP headers; IPv6's payload length does
	// not count its own header).
	maxGSOBytesIPv4 = 1<<16 - 1 - ipv4UDPOverhead
	maxGSOBytesIPv6 = 1<<16 - 1 - 8
)

// dgram is one datagram built by Send: in the arena, or in place in the
// caller's batch.
type dgram struct {
	b      []byte
	frames int // frames this datagram sends or completes (for Stats)
	frag   bool
	// src, for a datagram to encrypt whose plaintext was not copied into
	// b: the frame header and frame, in place in the caller's batch,
	// sealed into b by flush.
	src []byte
}

// sendState is the scratch of one Send call: the datagrams built, the
// arena that packed datagrams and fragments are copied into, the sendmmsg
// message vector with its iovecs and control messages, and the destination
// address. It is allocated once and reused (see getSendState).
type sendState struct {
	dgs   []dgram
	arena []byte

	msgs  []ipv4.Message // msgs[i].Buffers is a slice of iovs, msgs[i].Addr is &ua
	iovs  [][]byte
	oob   []byte // udpbatch.SegmentCmsgSpace per message
	first []int  // first datagram of message i
	count []int  // datagrams in message i
	order []int  // indexes of dgs in the order the messages send them
	dirty int    // high-water mark of dgs and iovs, cleared by putSendState

	split fragment.Splitter

	ua    net.UDPAddr
	ip    [16]byte // backs ua.IP
	nonce [12]byte // ChaCha20-Poly1305 nonce: 4 zero bytes, the counter
}

func (s *Sleeve) newSendState() *sendState {
	n := 2*s.cfg.BatchSize + 512 // datagrams per flush; Send flushes when full
	st := &sendState{
		dgs:   make([]dgram, 0, n),
		arena: make([]byte, 0, sendArenaSize),
		msgs:  make([]ipv4.Message, n),
		iovs:  make([][]byte, n),
		oob:   udpbatch.AlignedBytes(n * udpbatch.SegmentCmsgSpace),
		first: make([]int, n),
		count: make([]int, n),
		order: make([]int, n),
	}
	for i := range st.msgs {
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
	// Drop references to the caller's batch.
	clear(st.dgs[:st.dirty])
	clear(st.iovs[:st.dirty])
	st.dgs, st.arena, st.dirty = st.dgs[:0], st.arena[:0], 0
	s.free <- st
}

// inPlaceHeadroom is the headroom Send needs in front of each frame.
const inPlaceHeadroom = HeaderSize + FrameHeaderSize + GSOSize

// Send implements transport.Transport.Send. It packs consecutive frames
// of b into datagrams of at most the packing limit (see Config.UnderlayMTU)
// and cuts a frame too big for one datagram into fragment datagrams of
// exactly the limit (the last may be shorter); it never lets IP fragment.
// A datagram of one frame is built in place: its headers are written in
// the headroom in front of the frame (b.Offset must be at least 32;
// transport.MaxOverhead is), so the frame is not copied; packed frames and
// fragments are copied into preallocated scratch. The datagrams go out
// with one sendmmsg per up to 2*BatchSize+512 datagrams, looping on partial
// writes; with UDP GSO, runs of equal-sized datagrams (such as the
// fragments of a super-frame) go as one message of up to 64 segments and
// 64 KiB. The frames themselves are left intact and the caller keeps b.
//
// A frame shorter than frame.EthernetHeaderSize or longer than
// frame.MaxSuperFrameSize is skipped, the others are sent, and Send
// returns an *transport.OpError naming the first bad one. Socket errors
// are returned as *transport.OpError; after Close, Send returns
// transport.ErrClosed. Send is safe for concurrent use and does not
// allocate in steady state.
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
	if b.Offset < inPlaceHeadroom {
		return s.opError("send", ep.String(), fmt.Errorf("batch headroom %d is less than %d bytes", b.Offset, inPlaceHeadroom))
	}
	dst := ep.DstAddrPort()
	// With encryption, plaintext datagrams are built ov bytes short of
	// the limit, with room for the counter and the tag, in the arena.
	var key *sendKey
	ov := 0
	if s.cfg.Encrypt {
		if key = s.keys.table.Load().sendKeyFor(dst); key == nil {
			return s.opError("send", ep.String(), ErrNoKey)
		}
		ov = EncryptionOverhead
	}
	limit, maxGSO := s.datagramLimit(dst.Addr())-ov, maxGSOBytesIPv4
	if a := dst.Addr(); a.Is6() && !a.Is4In6() {
		maxGSO = maxGSOBytesIPv6
	}
	st := s.getSendState()
	defer s.putSendState(st)
	st.setDst(dst)

	bad := -1
	for i := 0; i < b.N; {
		size := b.Sizes[i]
		if !validSendSize(size) {
			if bad < 0 {
				bad = i
			}
			i++
			continue
		}
		gso := !b.Meta[i].GSO.IsZero()
		if HeaderSize+frameHeaderLen(gso)+size > limit {
			nf, bytes := fragments(size, limit, gso)
			if cap(st.arena)-len(st.arena) < bytes+nf*ov || cap(st.dgs)-len(st.dgs) < nf {
				if err := s.flush(sk, st, ep, maxGSO, key); err != nil {
					return err
				}
			}
			s.appendFragments(st, b.Meta[i], b.Frame(i), limit, key != nil)
			i++
			continue
		}
		// Frames [i, j) go in this datagram of total bytes.
		n, sum, j := 1, size, i+1
		for ; j < b.N; j++ {
			sz := b.Sizes[j]
			if !validFrameSize(sz) {
				break
			}
			g := gso || !b.Meta[j].GSO.IsZero()
			if HeaderSize+(n+1)*frameHeaderLen(g)+sum+sz > limit {
				break
			}
			gso, n, sum = g, n+1, sum+sz
		}
		total := HeaderSize + n*frameHeaderLen(gso) + sum
		if len(st.dgs) == cap(st.dgs) || ((j > i+1 || key != nil) && cap(st.arena)-len(st.arena) < total+ov) {
			if err := s.flush(sk, st, ep, maxGSO, key); err != nil {
				return err
			}
		}
		var flags byte
		if gso {
			flags = FlagGSO
		}
		switch {
		case j == i+1:
			hdr := HeaderSize + frameHeaderLen(gso)
			d := b.Bufs[i][b.Offset-hdr : b.Offset+size]
			putHeader(d, s.cfg.Self, flags)
			putFrameHeader(d[HeaderSize:], b.Meta[i], size)
			if gso {
				b.Meta[i].GSO.PutWire(d[HeaderSize+FrameHeaderSize:])
			}
			if key == nil {
				st.dgs = append(st.dgs, dgram{b: d, frames: 1})
				break
			}
			// Encrypted: the header and room in the arena; flush seals
			// the frame header and frame from the batch into it (no copy
			// first, and the frame stays intact).
			lo := len(st.arena)
			st.arena = append(st.arena, d[:HeaderSize]...)
			st.arena[lo+1] |= FlagEncrypted
			st.arena = st.arena[:lo+len(d)+ov]
			st.dgs = append(st.dgs, dgram{b: st.arena[lo:], frames: 1, src: d[HeaderSize:]}) // not cap-limited: adjacent datagrams share an iovec
		default:
			lo := len(st.arena)
			if key != nil {
				st.arena = st.arena[:lo+CounterSize]
			}
			st.arena = AppendHeaderFlags(st.arena, s.cfg.Self, flags)
			for k := i; k < j; k++ {
				if gso {
					st.arena = AppendFrameGSO(st.arena, b.Meta[k], b.Frame(k))
				} else {
					st.arena = AppendFrame(st.arena, b.Meta[k], b.Frame(k))
				}
			}
			if key != nil {
				st.arena = encryptedLayout(st.arena, lo)
			}
			st.dgs = append(st.dgs, dgram{b: st.arena[lo:], frames: j - i}) // not cap-limited: adjacent datagrams share an iovec
		}
		i = j
	}
	if err := s.flush(sk, st, ep, maxGSO, key); err != nil {
		return err
	}
	if bad >= 0 {
		return s.opError("send", ep.String(), fmt.Errorf("frame %d: size %d out of range [%d, %d]",
			bad, b.Sizes[bad], frame.EthernetHeaderSize, frame.MaxSuperFrameSize))
	}
	return nil
}

// fragments returns how many fragment datagrams a frame of size bytes
// needs under the packing limit, and their total length.
func fragments(size, limit int, gso bool) (n, bytes int) {
	hdr := fragmentHeaderLen(gso)
	n = fragment.Count(size, limit-hdr)
	return n, size + n*hdr
}

// fragmentHeaderLen returns the bytes in front of the data of a fragment
// datagram.
func fragmentHeaderLen(gso bool) int {
	if gso {
		return HeaderSize + FragmentHeaderSize + GSOSize
	}
	return HeaderSize + FragmentHeaderSize
}

// appendFragments cuts fr into fragment datagrams of limit bytes (the last
// may be shorter), in the arena; the caller made room. With enc, each is
// laid out for sealing (encryptedLayout), EncryptionOverhead bytes longer.
func (s *Sleeve) appendFragments(st *sendState, meta frame.Meta, fr []byte, limit int, enc bool) {
	per := limit - fragmentHeaderLen(!meta.GSO.IsZero())
	st.split.Start(s.fragIDs.Next(), fr, per)
	f := Fragment{Meta: meta}
	for st.split.More() {
		h, data, last, _ := st.split.Next()
		f.ID, f.Offset, f.Total, f.Data = h.ID, int(h.Offset), int(h.Total), data
		lo := len(st.arena)
		if enc {
			st.arena = st.arena[:lo+CounterSize]
		}
		st.arena = AppendFragment(st.arena, s.cfg.Self, &f)
		if enc {
			st.arena = encryptedLayout(st.arena, lo)
		}
		d := dgram{b: st.arena[lo:], frag: true} // not cap-limited: adjacent datagrams share an iovec
		if last {
			d.frames = 1
		}
		st.dgs = append(st.dgs, d)
	}
}

// build fills st.msgs with the datagrams st.dgs[from:] and returns the
// number of messages. Without gso a message is one datagram. With gso,
// each message takes a run of datagrams of one size (the segment size)
// and at most one shorter datagram, sent last, up to maxGSOSegments and
// maxBytes, with a UDP_SEGMENT control message if it has more than one.
//
// The shorter datagram (typically the tail of a fragmented frame) may be
// deferred past non-final fragments of the next frames: they deliver
// nothing, so frames still complete in order at the receiver, and a
// stream of maximal super-frames (45 full fragments and a tail at MTU
// 1500, more than the 44 that fit 64 KiB) takes about one message each
// instead of two. A message always covers the contiguous datagrams
// st.dgs[first:first+count], whatever the order it sends them in
// (st.order). Datagrams adjacent in memory share an iovec.
func (st *sendState) build(from int, gso bool, maxBytes int) int {
	nm, niov, no := 0, 0, 0
	passable := func(j, seg int) bool { // may go before a deferred datagram
		return j < len(st.dgs) && st.dgs[j].frag && st.dgs[j].frames == 0 && len(st.dgs[j].b) == seg
	}
	for i := from; i < len(st.dgs); {
		start, lo := i, niov
		deferred := -1
		if gso && i+1 < len(st.dgs) && len(st.dgs[i+1].b) > len(st.dgs[i].b) && passable(i+1, len(st.dgs[i+1].b)) {
			deferred = i
			i++
		}
		seg := len(st.dgs[i].b)
		niov, no = st.addIOV(lo, niov, no, i), no+1
		total, cnt, j := seg, 1, i+1
		if deferred >= 0 {
			total, cnt = total+len(st.dgs[deferred].b), cnt+1
		}
		for gso && j < len(st.dgs) && cnt < maxGSOSegments {
			l := len(st.dgs[j].b)
			if l > seg || total+l > maxBytes || (deferred >= 0 && !passable(j, seg)) {
				break
			}
			total, cnt = total+l, cnt+1
			if l < seg {
				if passable(j+1, seg) && cnt < maxGSOSegments {
					deferred = j
					j++
					continue
				}
				niov, no = st.addIOV(lo, niov, no, j), no+1
				j++
				break
			}
			niov, no = st.addIOV(lo, niov, no, j), no+1
			j++
		}
		if deferred >= 0 {
			niov, no = st.addIOV(lo, niov, no, deferred), no+1
		}
		m := &st.msgs[nm]
		m.Buffers = st.iovs[lo:niov:niov]
		m.OOB = nil
		if cnt > 1 {
			m.OOB = st.oob[nm*udpbatch.SegmentCmsgSpace : (nm+1)*udpbatch.SegmentCmsgSpace]
			udpbatch.PutSegmentCmsg(m.OOB, seg)
		}
		st.first[nm], st.count[nm] = start, j-start
		nm++
		i = j
	}
	st.dirty = max(st.dirty, niov, len(st.dgs))
	return nm
}

// addIOV appends datagram d to the iovecs (niov so far, those of the
// current message from lo), extending the message's last iovec if it ends
// where d starts, and records d as the no-th datagram sent. It returns the
// new number of iovecs.
func (st *sendState) addIOV(lo, niov, no, d int) int {
	b := st.dgs[d].b
	st.order[no] = d
	if niov > lo {
		if prev := st.iovs[niov-1]; cap(prev)-len(prev) >= len(b) && &prev[:len(prev)+1][len(prev)] == &b[0] {
			st.iovs[niov-1] = prev[:len(prev)+len(b)]
			return niov
		}
	}
	st.iovs[niov] = b
	return niov + 1
}

// encryptedLayout turns the plaintext datagram built at b[lo+CounterSize:]
// (after CounterSize reserved bytes) into the layout seal expects: the
// header moved to b[lo:], with FlagEncrypted, the counter's room after it,
// then the rest, and room for the tag appended. b has the room (Send
// checked).
func encryptedLayout(b []byte, lo int) []byte {
	copy(b[lo:lo+HeaderSize], b[lo+CounterSize:lo+CounterSize+HeaderSize])
	b[lo+1] |= FlagEncrypted
	return b[:len(b)+TagSize]
}

// flush writes the datagrams of st and empties it, looping on partial
// writes; with key, it first seals them. If the kernel refuses a GSO
// message, its datagrams and the rest are sent again one per message; GSO
// is turned off for the socket if that works and the error said the path
// cannot do it (logged once).
func (s *Sleeve) flush(sk *socket, st *sendState, ep transport.Endpoint, maxGSO int, key *sendKey) error {
	if len(st.dgs) == 0 {
		return nil
	}
	if key != nil {
		if err := st.seal(key); err != nil {
			return s.opError("send", ep.String(), err)
		}
	}
	gso := s.stats.gso.Load()
	nm := st.build(0, gso, maxGSO)
	disable := false // turn GSO off once a plain send works
	for done := 0; done < nm; {
		n, err := sk.bw.WriteBatch(st.msgs[done:nm], 0)
		n = max(n, 0) // -1 on error
		s.account(st, done, done+n)
		if n > 0 && disable {
			disable = false
			if s.stats.gso.CompareAndSwap(true, false) {
				s.log.Slog().Warn("UDP GSO send failed: sending datagrams one by one from now on", "dst", ep)
			}
		}
		done += n
		switch {
		case err != nil && (s.closed.Load() || errors.Is(err, net.ErrClosed)):
			return transport.ErrClosed
		case err != nil && st.msgs[done].OOB != nil:
			dis, retry := udpbatch.GSOError(err)
			if !retry {
				return s.opError("send", ep.String(), err)
			}
			s.stats.gsoErrors.Add(1)
			disable = dis
			if errors.Is(err, syscall.EMSGSIZE) {
				s.learnPMTU(ep.DstAddrPort())
			}
			if !dis {
				s.log.Log(slog.LevelWarn, "UDP GSO send failed (UnderlayMTU too big for the path?): sent one by one", "dst", ep, "err", err)
			}
			nm, done = st.build(st.first[done], false, maxGSO), 0
		case err != nil:
			return s.opError("send", ep.String(), err)
		case n == 0:
			return s.opError("send", ep.String(), io.ErrShortWrite)
		}
	}
	st.dgs, st.arena = st.dgs[:0], st.arena[:0]
	return nil
}

// account counts messages [lo, hi) of st as sent.
func (s *Sleeve) account(st *sendState, lo, hi int) {
	var dgs, frames, frags, bytes, gso int
	for m := lo; m < hi; m++ {
		if st.count[m] > 1 {
			gso++
		}
		for _, d := range st.dgs[st.first[m] : st.first[m]+st.count[m]] {
			dgs++
			frames += d.frames
			bytes += len(d.b)
			if d.frag {
				frags++
			}
		}
	}
	if dgs == 0 {
		return
	}
	s.stats.sentDatagrams.Add(uint64(dgs))
	s.stats.sentFrames.Add(uint64(frames))
	s.stats.sentBytes.Add(uint64(bytes))
	if frags > 0 {
		s.stats.sentFragments.Add(uint64(frags))
	}
	if gso > 0 {
		s.stats.gsoSends.Add(uint64(gso))
	}
}
