package udpbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// buildCase returns the datagrams of random frames, as the sleeve lays
// them out: a small frame alone in its own buffer, a big one in fragments
// of limit bytes (the tail shorter) back to back in one arena, the
// fragments before the tail inert. Each datagram starts with its index.
// frameOf gives each datagram's frame.
func buildCase(rng *rand.Rand, n, limit int) (bufs [][]byte, inert []bool, frameOf []int) {
	arena := make([]byte, 0, 512<<10)
	for f := 0; ; f++ {
		nf, size := 1, 8+rng.IntN(limit-8+1)
		if rng.IntN(3) == 0 {
			nf = 2 + rng.IntN(50)
			if rng.IntN(2) == 0 {
				nf = 46 // a 64 KiB super-frame at MTU 1500: 45 full fragments and a tail
			}
		}
		if len(bufs)+nf > n || len(arena)+nf*limit > cap(arena) {
			return bufs, inert, frameOf
		}
		for k := range nf {
			var d []byte
			if nf == 1 {
				d = make([]byte, size) // in place, in the caller's batch
			} else {
				l := limit
				if k == nf-1 {
					l = 8 + rng.IntN(limit-8+1)
				}
				lo := len(arena)
				arena = arena[:lo+l]
				d = arena[lo : lo+l] // not cap-limited: adjacent fragments share an iovec
			}
			for i := range d {
				d[i] = byte(f + i)
			}
			binary.BigEndian.PutUint32(d, uint32(len(bufs)))
			bufs = append(bufs, d)
			inert = append(inert, nf > 1 && k < nf-1)
			frameOf = append(frameOf, f)
		}
	}
}

// iovBytes returns the bytes message m's iovecs hold.
func (w *Writer) iovBytes(m int) []byte {
	h := &w.hdrs[m].hdr
	var b []byte
	for _, iov := range unsafe.Slice(h.Iov, h.Iovlen) {
		b = append(b, unsafe.Slice(iov.Base, iov.Len)...)
	}
	return b
}

// segSize returns the UDP_SEGMENT size of message m, or 0.
func (w *Writer) segSize(m int) int {
	h := &w.hdrs[m].hdr
	if h.Control == nil {
		return 0
	}
	c := unsafe.Slice(h.Control, h.Controllen)
	ch := (*syscall.Cmsghdr)(unsafe.Pointer(&c[0]))
	if ch.Level != solUDP || ch.Type != udpSegment {
		return -1
	}
	return int(*(*uint16)(unsafe.Pointer(&c[syscall.CmsgLen(0)])))
}

// TestBuildMessages checks the messages built from random batches: each
// covers the datagrams that follow the previous one's, within the GSO
// limits, with segments of one size but the last; every datagram goes
// once, and frames complete in order.
func TestBuildMessages(t *testing.T) {
	var gsoFlag atomic.Bool
	w := newWriter(2*128+512, &gsoFlag)
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 200 {
		limit := []int{1472, 1452, 576 - 48, 8972}[iter%4]
		maxBytes := []int{maxGSOBytesIPv4, maxGSOBytesIPv6}[iter%2]
		w.maxBytes = maxBytes
		bufs, inert, frameOf := buildCase(rng, len(w.hdrs), limit)
		perFrame := map[int]int{}
		for _, f := range frameOf {
			perFrame[f]++
		}
		for _, gso := range []bool{true, false} {
			w.build(bufs, inert, gso)
			next := 0       // next datagram index a message must start at
			seen := []int{} // per frame, datagrams sent
			completed := -1 // last frame completed
			for m := range w.nmsg {
				first, count := w.first[m], w.count[m]
				if first != next || count < 1 {
					t.Fatalf("iter %d: message %d covers [%d, +%d), want start %d", iter, m, first, count, next)
				}
				next = first + count
				if !gso && count != 1 {
					t.Fatalf("no GSO, message of %d datagrams", count)
				}
				seg := w.segSize(m)
				if count > maxSegments || (count > 1) != (seg > 0) {
					t.Fatalf("message %d: %d segments, segment size %d", m, count, seg)
				}
				payload := w.iovBytes(m)
				if count > 1 && len(payload) > maxBytes {
					t.Fatalf("message %d: %d bytes", m, len(payload))
				}
				if seg == 0 {
					seg = len(payload)
				}
				for k := range count {
					if len(payload) == 0 {
						t.Fatalf("iter %d message %d: %d of %d segments", iter, m, k, count)
					}
					l := min(seg, len(payload))
					if l < seg && k != count-1 {
						t.Fatalf("iter %d message %d: segment %d of %d bytes, segment size %d", iter, m, k, l, seg)
					}
					d := int(binary.BigEndian.Uint32(payload))
					if d < first || d >= first+count || !bytes.Equal(payload[:l], bufs[d]) {
						t.Fatalf("iter %d message %d: segment %d is not datagram %d of [%d, %d)", iter, m, k, d, first, first+count)
					}
					payload = payload[l:]
					f := frameOf[d]
					for len(seen) <= f {
						seen = append(seen, 0)
					}
					seen[f]++
					if !inert[d] || seen[f] == perFrame[f] {
						if seen[f] != perFrame[f] {
							t.Fatalf("frame %d: last datagram sent before others", f)
						}
						if f != completed+1 {
							t.Fatalf("iter %d: frame %d completes after frame %d", iter, f, completed)
						}
						completed = f
					}
				}
				if len(payload) != 0 {
					t.Fatalf("iter %d message %d: %d bytes left over", iter, m, len(payload))
				}
			}
			if next != len(bufs) {
				t.Fatalf("messages cover %d of %d datagrams", next, len(bufs))
			}
		}
	}
}

// TestBuildSuperFrameStream: a stream of maximal super-frames at MTU 1500
// (45 full fragments and a tail each) goes in about one GSO message each,
// not two, and adjacent fragments share iovecs.
func TestBuildSuperFrameStream(t *testing.T) {
	var gsoFlag atomic.Bool
	w := newWriter(1024, &gsoFlag)
	w.maxBytes = maxGSOBytesIPv4
	const frames, limit = 7, 1472
	arena := make([]byte, frames*46*limit)
	var bufs [][]byte
	var inert []bool
	off := 0
	for range frames {
		for k := range 46 {
			l := limit
			if k == 45 {
				l = 300
			}
			bufs = append(bufs, arena[off:off+l])
			inert = append(inert, k < 45)
			off += l
		}
	}
	w.build(bufs, inert, true)
	if w.nmsg > frames+1 {
		t.Errorf("%d super-frames in %d messages, want at most %d", frames, w.nmsg, frames+1)
	}
	if w.dirty >= len(bufs)/2 {
		t.Errorf("%d datagrams in %d iovecs", len(bufs), w.dirty)
	}
	t.Logf("%d datagrams of %d super-frames in %d GSO messages, %d iovecs", len(bufs), frames, w.nmsg, w.dirty)
}

// TestWriteBatchFault: a refused GSO message falls back to one datagram
// per message; GSO is turned off only if the error says the path cannot do
// it and a plain send then works. Sent reports what went out.
func TestWriteBatchFault(t *testing.T) {
	tests := []struct {
		name   string
		errno  syscall.Errno
		plain  bool
		off    bool // GSO turned off afterwards
		fails  bool // WriteBatch fails
		gsoErr bool // Sent.GSOErr set
	}{
		{"EIO turns GSO off", syscall.EIO, false, true, false, true},
		{"EMSGSIZE falls back once", syscall.EMSGSIZE, false, false, false, true},
		{"EINVAL for plain sends too", syscall.EINVAL, true, false, true, false},
		{"EPERM: an error", syscall.EPERM, false, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer rx.Close()
			tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			var flag atomic.Bool
			flag.Store(true)
			w, err := NewWriter(tx, 64, &flag)
			if err != nil {
				t.Fatal(err)
			}
			f := &Fault{Errno: tt.errno, Plain: tt.plain}
			w.SetFault(f)
			// One plain message (100 bytes, then 200), then a GSO message of
			// 10 datagrams of 500 bytes.
			bufs := [][]byte{make([]byte, 100), make([]byte, 200)}
			arena := make([]byte, 10*500)
			for k := range 10 {
				bufs = append(bufs, arena[k*500:(k+1)*500])
			}
			s, err := w.WriteBatch(bufs, nil, rx.LocalAddr().(*net.UDPAddr).AddrPort())
			if (err != nil) != tt.fails || (err != nil && !errors.Is(err, tt.errno)) {
				t.Fatalf("WriteBatch: %v", err)
			}
			if s.GSOOff != tt.off || flag.Load() == tt.off || (s.GSOErr != nil) != tt.gsoErr {
				t.Errorf("Sent %+v, GSO %v", s, flag.Load())
			}
			want := len(bufs)
			if tt.fails {
				want = 2 // the plain messages in front of the GSO one
				if tt.plain {
					want = 0
				}
			}
			if s.Datagrams != want || s.GSOMessages != 0 {
				t.Errorf("Sent %+v, want %d datagrams, no GSO message", s, want)
			}
			if w.span != nil || w.iovs[0].Base != nil {
				t.Error("the writer keeps references to the datagrams")
			}
		})
	}
}

// TestWriteBatchDeferred sends a stream of fragmented frames through a
// socket: every datagram arrives once, the tails after the next frame's
// inert fragments.
func TestWriteBatchDeferred(t *testing.T) {
	rx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	if err := rx.SetReadBuffer(4 << 20); err != nil {
		t.Fatal(err)
	}
	tx, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	gso, _ := SetupOffloads(tx, true, false)
	var flag atomic.Bool
	flag.Store(gso)
	w, err := NewWriter(tx, 256, &flag)
	if err != nil {
		t.Fatal(err)
	}
	const frames, per, limit = 4, 20, 1000
	arena := make([]byte, frames*per*limit)
	var bufs [][]byte
	var inert []bool
	off := 0
	for range frames {
		for k := range per {
			l := limit
			if k == per-1 {
				l = 100
			}
			d := arena[off : off+l]
			binary.BigEndian.PutUint32(d, uint32(len(bufs)))
			bufs = append(bufs, d)
			inert = append(inert, k < per-1)
			off += l
		}
	}
	s, err := w.WriteBatch(bufs, inert, rx.LocalAddr().(*net.UDPAddr).AddrPort())
	if err != nil || s.Datagrams != len(bufs) || (gso && s.GSOMessages == 0) {
		t.Fatalf("Sent %+v, %v", s, err)
	}
	seen := make([]bool, len(bufs))
	buf := make([]byte, 2000)
	var order []int
	for range bufs {
		if err := rx.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, err := rx.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		d := int(binary.BigEndian.Uint32(buf))
		if d >= len(bufs) || seen[d] || !bytes.Equal(buf[:n], bufs[d]) {
			t.Fatalf("datagram %d (%d bytes) again or wrong", d, n)
		}
		seen[d] = true
		order = append(order, d)
	}
	t.Logf("GSO %v, %d messages: %v", gso, s.GSOMessages, order)
}
