package ethswitch

import (
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

// The switch decides on headers only: the offload information a TAP put
// in Meta.GSO must reach the transport untouched, or the peer's kernel
// gets frames with partial checksums it believes complete.
func TestMetaGSOSurvives(t *testing.T) {
	sw, err := New(Config{Self: 0x020000000001})
	if err != nil {
		t.Fatal(err)
	}
	g := frame.GSO{Flags: frame.GSOFlagNeedsCsum, Type: frame.GSOTCPv4, HdrLen: 66, Size: 1374, CsumStart: 34, CsumOffset: 16}
	b := frame.NewBatch(2, 0)
	for i := range 2 {
		f := b.Room(i)[:60]
		copy(f, frame.Broadcast[:])
		copy(f[6:], []byte{0x0a, 0, 0, 0, 0, byte(i + 1)})
		f[12], f[13] = 0x08, 0x00
		b.Sizes[i] = 60
		b.Meta[i] = frame.Meta{GSO: g, Via: 0x020000000009}
	}
	b.N = 1
	out := make([]Decision, 2)
	sw.FromLocal(b, out)
	if b.Meta[0].GSO != g || b.Meta[0].Src != 0x020000000001 || b.Meta[0].Via != frame.UnknownPeer {
		t.Errorf("FromLocal: Meta = %+v, want GSO kept, Src self, Via unknown", b.Meta[0])
	}
	b.Meta[0] = frame.Meta{Src: 0x020000000002, GSO: g, Via: 0x020000000002}
	sw.FromPeer(b, out)
	if b.Meta[0].GSO != g {
		t.Errorf("FromPeer: GSO = %+v, want %+v", b.Meta[0].GSO, g)
	}
}
