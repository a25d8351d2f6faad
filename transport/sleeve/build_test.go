package sleeve

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

// buildCase fills a send state with the datagrams of random frames (small
// ones alone, big ones in fragments laid out back to back, as Send does)
// and returns, for each datagram, the frame it belongs to.
func buildCase(rng *rand.Rand, st *sendState, limit int) (frameOf []int) {
	st.dgs, st.arena = st.dgs[:0], st.arena[:0]
	for f := 0; ; f++ {
		big := rng.IntN(3) == 0
		size := frame.EthernetHeaderSize + rng.IntN(limit-HeaderSize-FrameHeaderSize-frame.EthernetHeaderSize+1)
		if big {
			size = limit + rng.IntN(frame.MaxSuperFrameSize-limit+1)
			if rng.IntN(2) == 0 {
				size = frame.MaxSuperFrameSize
			}
		}
		nf := 1
		if big {
			nf, _ = fragments(size, limit, true)
		}
		if len(st.dgs)+nf > cap(st.dgs) || len(st.arena)+nf*limit > cap(st.arena) {
			return frameOf
		}
		if !big {
			d := make([]byte, HeaderSize+FrameHeaderSize+size) // in place, in the caller's batch
			d[0] = byte(f)
			st.dgs = append(st.dgs, dgram{b: d, frames: 1})
			frameOf = append(frameOf, f)
			continue
		}
		per := limit - HeaderSize - FragmentHeaderSize - GSOSize
		for off := 0; off < size; off += per {
			n := HeaderSize + FragmentHeaderSize + GSOSize + min(per, size-off)
			lo := len(st.arena)
			st.arena = st.arena[:lo+n]
			for k := range n {
				st.arena[lo+k] = byte(f + k)
			}
			d := dgram{b: st.arena[lo : lo+n], frag: true}
			if off+per >= size {
				d.frames = 1
			}
			st.dgs = append(st.dgs, d)
			frameOf = append(frameOf, f)
		}
	}
}

func TestBuildMessages(t *testing.T) {
	s := &Sleeve{cfg: Config{BatchSize: 128}}
	st := s.newSendState()
	rng := rand.New(rand.NewPCG(1, 2))
	for iter := range 200 {
		limit := []int{1472, 1452, MinUnderlayMTU - ipv6UDPOverhead, 8972}[iter%4]
		maxBytes := []int{maxGSOBytesIPv4, maxGSOBytesIPv6}[iter%2]
		frameOf := buildCase(rng, st, limit)
		perFrame := map[int]int{}
		for _, f := range frameOf {
			perFrame[f]++
		}
		for _, gso := range []bool{true, false} {
			nm := st.build(0, gso, maxBytes)
			next := 0       // next datagram index a message must start at
			seen := []int{} // per frame, datagrams sent
			completed := -1 // last frame completed
			var want []byte // expected payload of a message
			for m := range nm {
				first, count := st.first[m], st.count[m]
				if first != next || count < 1 {
					t.Fatalf("iter %d: message %d covers [%d, +%d), want start %d", iter, m, first, count, next)
				}
				next = first + count
				if !gso && count != 1 {
					t.Fatalf("no GSO, message of %d datagrams", count)
				}
				if count > maxGSOSegments || (count > 1) != (st.msgs[m].OOB != nil) {
					t.Fatalf("message %d: %d segments, OOB %v", m, count, st.msgs[m].OOB != nil)
				}
				want, total := want[:0], 0
				seg := len(st.dgs[st.order[first]].b)
				for k := first; k < first+count; k++ {
					d := st.order[k]
					if d < first || d >= first+count {
						t.Fatalf("message %d sends datagram %d outside [%d, %d)", m, d, first, first+count)
					}
					l := len(st.dgs[d].b)
					if l > seg || (l < seg && k != first+count-1) {
						t.Fatalf("iter %d message %d: segment %d of %d bytes, segment size %d", iter, m, k-first, l, seg)
					}
					total += l
					want = append(want, st.dgs[d].b...)
					f := frameOf[d]
					for len(seen) <= f {
						seen = append(seen, 0)
					}
					seen[f]++
					if st.dgs[d].frames == 1 || seen[f] == perFrame[f] {
						if seen[f] != perFrame[f] {
							t.Fatalf("frame %d: last datagram sent before others", f)
						}
						if f != completed+1 {
							t.Fatalf("iter %d: frame %d completes after frame %d", iter, f, completed)
						}
						completed = f
					}
				}
				if count > 1 && total > maxBytes {
					t.Fatalf("message %d: %d bytes", m, total)
				}
				if got := bytes.Join(st.msgs[m].Buffers, nil); !bytes.Equal(got, want) {
					t.Fatalf("iter %d message %d: iovecs hold %d bytes, want %d", iter, m, len(got), len(want))
				}
			}
			if next != len(st.dgs) {
				t.Fatalf("messages cover %d of %d datagrams", next, len(st.dgs))
			}
		}
	}
}

// TestBuildSuperFrameStream: a stream of maximal super-frames at MTU 1500
// goes in about one GSO message each, not two.
func TestBuildSuperFrameStream(t *testing.T) {
	s := &Sleeve{cfg: Config{BatchSize: 128, Self: peerA}}
	st := s.newSendState()
	fr := make([]byte, frame.MaxSuperFrameSize)
	const frames = 7
	for range frames {
		s.appendFragments(st, frame.Meta{GSO: tcp4GSO}, fr, 1472, false)
	}
	nm := st.build(0, true, maxGSOBytesIPv4)
	if nm > frames+1 {
		t.Errorf("%d super-frames in %d messages, want at most %d", frames, nm, frames+1)
	}
	t.Logf("%d datagrams of %d super-frames in %d GSO messages", len(st.dgs), frames, nm)
}
