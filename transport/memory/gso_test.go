package memory

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/transport"
)

// TestSuperFramesAndGSO: Meta.GSO travels with each frame, super-frames up
// to frame.MaxSuperFrameSize are carried, and one too big for the caller's
// batch buffer is dropped and counted, not truncated.
func TestSuperFramesAndGSO(t *testing.T) {
	n := NewNetwork()
	a := open(t, n, peerA, netip.AddrPort{})
	bn := open(t, n, peerB, netip.AddrPort{})
	gso := frame.GSO{Flags: frame.GSOFlagNeedsCsum, Type: frame.GSOTCPv4, HdrLen: 66, Size: 1374, CsumStart: 34, CsumOffset: 16}
	csum := frame.GSO{Flags: frame.GSOFlagNeedsCsum, CsumStart: 34, CsumOffset: 16}

	out := frame.NewBatchSize(4, transport.MaxOverhead, frame.MaxSuperFrameSize)
	fill(out, []int{60, frame.MaxSuperFrameSize, 1400}, 3, frame.Meta{Src: peerA, Dst: peerB})
	out.Meta[0].GSO, out.Meta[1].GSO = csum, gso
	if err := a.tr.Send(out, bn.ep); err != nil {
		t.Fatal(err)
	}
	in := frame.NewBatchSize(4, transport.MaxOverhead, frame.MaxSuperFrameSize)
	eps := make([]transport.Endpoint, 4)
	if k, err := bn.recv(in, eps); k != 3 || err != nil {
		t.Fatalf("got %d frames, %v", k, err)
	}
	for i := range 3 {
		want := out.Meta[i]
		want.Via = peerA
		if !bytes.Equal(in.Frame(i), out.Frame(i)) || in.Meta[i] != want {
			t.Errorf("frame %d: %d bytes, meta %+v; want %d bytes, %+v", i, in.Sizes[i], in.Meta[i], out.Sizes[i], want)
		}
	}

	// Into a batch of frame.MaxFrameSize buffers: the super-frame is dropped.
	if err := a.tr.Send(out, bn.ep); err != nil {
		t.Fatal(err)
	}
	small := frame.NewBatch(4, transport.MaxOverhead)
	if k, err := bn.recv(small, eps); k != 2 || err != nil || small.Sizes[0] != 60 || small.Sizes[1] != 1400 {
		t.Fatalf("into a small batch: %d frames %v, %v", k, small.Sizes[:k], err)
	}
	if s := bn.tr.Stats(); s.TooBig != 1 {
		t.Errorf("TooBig = %d, want 1", s.TooBig)
	}

	// One byte more than a super-frame is refused.
	out.N, out.Sizes[0] = 1, frame.MaxSuperFrameSize+1
	out.Bufs[0] = make([]byte, out.Offset+out.Sizes[0])
	var oe *transport.OpError
	if err := a.tr.Send(out, bn.ep); !errors.As(err, &oe) {
		t.Errorf("Send of %d bytes: %v, want an OpError", out.Sizes[0], err)
	}
}
