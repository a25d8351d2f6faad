package sleeve

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"syscall"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/fragment"
	"github.com/weave-switch/weave-switch/internal/iomem"
	"github.com/weave-switch/weave-switch/internal/udpbatch"
	"github.com/weave-switch/weave-switch/transport"
)

// Send scratch. A send state's arena holds packed datagrams and the
// fragments of frames too big for a datagram, back to back: 512 KiB is
// about 7 maximal super-frames at UnderlayMTU 1500, and more than the
// fragments of one (71 KiB at the smallest MTU, 576). It is an
// iomem.Region, outside the collected heap: a router whose Sends carry
// heartbeats and small frames holds the arena's first pages, not all of
// it, and the collector does not count it. It is unmapped when its send
// state is collected (a Sleeve keeps its states for its life).
const sendArenaSize = 512 << 10

// dgram describes one datagram built by Send (its bytes, in the arena or
// in place in the caller's batch, are in sendState.bufs).
type dgram struct {
	frames int // frames this datagram sends or completes (for Stats)
	frag   bool
	// src, for a datagram to encrypt whose plaintext was not copied into
	// b: the frame header and frame, in place in the caller's batch,
	// sealed into b by flush.
	src []byte
}

// sendState is the scratch of one Send call: the datagrams built, the
// arena that packed datagrams and fragments are copied into, and the
// writer that sends them. It is allocated once and reused (see
// getSendState).
type sendState struct {
	bufs  [][]byte // the datagrams
	inert []bool   // per datagram: a fragment that completes nothing
	dgs   []dgram  // per datagram: what it carries
	arena []byte
	dirty int // high-water mark of bufs and dgs, cleared by putSendState

	w  *udpbatch.Writer // writes on sk; made by the first flush
	sk *socket

	split fragment.Splitter
	nonce [12]byte // AEAD nonce: 4 zero bytes, the counter
}

func (s *Sleeve) newSendState() *sendState {
	n := 2*s.cfg.BatchSize + 512 // datagrams per flush; Send flushes when full
	mem := iomem.New(1, sendArenaSize)
	st := &sendState{
		bufs:  make([][]byte, 0, n),
		inert: make([]bool, 0, n),
		dgs:   make([]dgram, 0, n),
		arena: mem.Buf(0)[:0],
	}
	// Nothing but st refers to the arena: Send holds st until it returns
	// it (putSendState), and the datagrams in bufs are cleared then.
	runtime.AddCleanup(st, (*iomem.Region).Free, mem)
	return st
}

// add appends datagram b, described by d, to st.
func (st *sendState) add(b []byte, d dgram) {
	st.bufs = append(st.bufs, b)
	st.inert = append(st.inert, d.frag && d.frames == 0)
	st.dgs = append(st.dgs, d)
}

// reset empties st, keeping track of the slots that hold references.
func (st *sendState) reset() {
	st.dirty = max(st.dirty, len(st.bufs))
	st.bufs, st.inert, st.dgs, st.arena = st.bufs[:0], st.inert[:0], st.dgs[:0], st.arena[:0]
}

// writer returns st's writer on sk, made on first use.
func (st *sendState) writer(s *Sleeve, sk *socket) (*udpbatch.Writer, error) {
	if st.sk != sk {
		w, err := udpbatch.NewWriter(sk.conn, cap(st.bufs), &s.stats.gso)
		if err != nil {
			return nil, err
		}
		st.w, st.sk = w, sk
	}
	return st.w, nil
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
	st.reset()
	clear(st.bufs[:st.dirty])
	clear(st.dgs[:st.dirty])
	st.dirty = 0
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
	limit := s.datagramLimit(dst.Addr()) - ov
	st := s.getSendState()
	defer s.putSendState(st)

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
				if err := s.flush(sk, st, ep, key); err != nil {
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
			if err := s.flush(sk, st, ep, key); err != nil {
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
				st.add(d, dgram{frames: 1})
				break
			}
			// Encrypted: the header and room in the arena; flush seals
			// the frame header and frame from the batch into it (no copy
			// first, and the frame stays intact).
			lo := len(st.arena)
			st.arena = append(st.arena, d[:HeaderSize]...)
			st.arena[lo+1] |= FlagEncrypted
			st.arena = st.arena[:lo+len(d)+ov]
			st.add(st.arena[lo:], dgram{frames: 1, src: d[HeaderSize:]}) // not cap-limited: adjacent datagrams share an iovec
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
			st.add(st.arena[lo:], dgram{frames: j - i}) // not cap-limited: adjacent datagrams share an iovec
		}
		i = j
	}
	if err := s.flush(sk, st, ep, key); err != nil {
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
		d := dgram{frag: true}
		if last {
			d.frames = 1
		}
		st.add(st.arena[lo:], d) // not cap-limited: adjacent datagrams share an iovec
	}
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

// flush writes the datagrams of st and empties it; with key, it first
// seals them. The writer sends runs of equal-sized datagrams as UDP GSO
// messages, a fragmented frame's tail possibly after the next frame's
// fragments that complete nothing. If the kernel refuses a GSO message,
// its datagrams and the rest go again one per message; GSO is turned off
// for the socket if that works and the error said the path cannot do it
// (logged once).
func (s *Sleeve) flush(sk *socket, st *sendState, ep transport.Endpoint, key *sendKey) error {
	if len(st.bufs) == 0 {
		return nil
	}
	if key != nil {
		if err := st.seal(key); err != nil {
			return s.opError("send", ep.String(), err)
		}
	}
	w, err := st.writer(s, sk)
	if err != nil {
		return s.opError("send", ep.String(), err)
	}
	sent, err := w.WriteBatch(st.bufs, st.inert, ep.DstAddrPort())
	s.account(st, sent)
	if sent.GSOErr != nil {
		s.stats.gsoErrors.Add(1)
		if errors.Is(sent.GSOErr, syscall.EMSGSIZE) {
			s.learnPMTU(ep.DstAddrPort())
		}
		if dis, _ := udpbatch.GSOError(sent.GSOErr); !dis {
			s.log.Log(slog.LevelWarn, "UDP GSO send failed (UnderlayMTU too big for the path?): sent one by one", "dst", ep, "err", sent.GSOErr)
		}
	}
	if sent.GSOOff {
		s.log.Slog().Warn("UDP GSO send failed: sending datagrams one by one from now on", "dst", ep)
	}
	switch {
	case err != nil && (s.closed.Load() || errors.Is(err, net.ErrClosed)):
		return transport.ErrClosed
	case err != nil:
		return s.opError("send", ep.String(), err)
	}
	st.reset()
	return nil
}

// account counts the datagrams of st that sent reports as sent.
func (s *Sleeve) account(st *sendState, sent udpbatch.Sent) {
	if sent.Datagrams == 0 {
		return
	}
	var frames, frags, bytes int
	for i, d := range st.dgs[:sent.Datagrams] {
		frames += d.frames
		bytes += len(st.bufs[i])
		if d.frag {
			frags++
		}
	}
	s.stats.sentDatagrams.Add(uint64(sent.Datagrams))
	s.stats.sentFrames.Add(uint64(frames))
	s.stats.sentBytes.Add(uint64(bytes))
	if frags > 0 {
		s.stats.sentFragments.Add(uint64(frags))
	}
	if sent.GSOMessages > 0 {
		s.stats.gsoSends.Add(uint64(sent.GSOMessages))
	}
}
