package kernel

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weave-switch/weave-switch/frame"
)

func TestSelect(t *testing.T) {
	ok := func() error { return nil }
	no := func() error { return errors.New("missing") }
	tests := []struct {
		mode      string
		encrypted bool
		p         Probes
		want      string
		wantErr   bool
	}{
		{"auto", false, Probes{OVS: ok, VXLAN: ok}, ModeOVS, false},
		{"", false, Probes{OVS: no, VXLAN: ok}, ModeVXLAN, false},
		{"auto", false, Probes{OVS: no, VXLAN: no}, ModeUserspace, false},
		{"auto", false, Probes{}, ModeUserspace, false},
		{"auto", true, Probes{OVS: ok, VXLAN: ok}, ModeUserspace, false},
		{"userspace", false, Probes{OVS: ok, VXLAN: ok}, ModeUserspace, false},
		{"vxlan", false, Probes{OVS: ok, VXLAN: ok}, ModeVXLAN, false},
		{"vxlan", true, Probes{VXLAN: ok}, ModeVXLAN, false},
		{"vxlan", false, Probes{OVS: ok, VXLAN: no}, "", true},
		{"ovs", false, Probes{OVS: no, VXLAN: ok}, "", true},
		{"ovs", false, Probes{OVS: ok}, ModeOVS, false},
		{"fast", false, Probes{OVS: ok}, "", true},
	}
	for _, tt := range tests {
		c, err := Select(tt.mode, tt.encrypted, tt.p)
		if (err != nil) != tt.wantErr {
			t.Errorf("Select(%q, %v): err %v, want error %v", tt.mode, tt.encrypted, err, tt.wantErr)
			continue
		}
		if c.Backend != tt.want {
			t.Errorf("Select(%q, %v) = %q, want %q", tt.mode, tt.encrypted, c.Backend, tt.want)
		}
		if err == nil && c.Reason == "" {
			t.Errorf("Select(%q): no reason", tt.mode)
		}
	}
	c, _ := Select("auto", false, Probes{OVS: no, VXLAN: ok})
	if !strings.Contains(c.Reason, "missing") {
		t.Errorf("reason %q does not say why ovs was not chosen", c.Reason)
	}
}

func TestHeartbeatMAC(t *testing.T) {
	seen := map[frame.MAC]bool{}
	for p := frame.PeerName(1); p < 2000; p++ {
		m := HeartbeatMAC(p)
		if m.IsMulticast() || m[0]&0x02 == 0 {
			t.Fatalf("HeartbeatMAC(%v) = %v: not a locally administered unicast MAC", p, m)
		}
		if seen[m] {
			t.Fatalf("HeartbeatMAC(%v) = %v collides", p, m)
		}
		seen[m] = true
		if HeartbeatMAC(p) != m {
			t.Fatal("not deterministic")
		}
	}
}

var (
	pA  = frame.PeerName(0xa)
	pB  = frame.PeerName(0xb)
	pC  = frame.PeerName(0xc)
	m1  = frame.MAC{2, 0, 0, 0, 0, 1}
	m2  = frame.MAC{2, 0, 0, 0, 0, 2}
	m3  = frame.MAC{2, 0, 0, 0, 0, 3}
	ip1 = netip.MustParseAddr("192.0.2.1")
	ip2 = netip.MustParseAddr("192.0.2.2")
)

func TestDiff(t *testing.T) {
	old := &View{Self: pA,
		Links: map[frame.PeerName]Link{pB: {ip1, LinkUp}, pC: {ip2, LinkUp}},
		MACs:  map[frame.MAC]frame.PeerName{m1: pB, m2: pC},
	}
	cur := &View{Self: pA,
		Links: map[frame.PeerName]Link{pB: {ip1, LinkUp}, pC: {ip2, LinkProbe}},
		MACs:  map[frame.MAC]frame.PeerName{m1: pC, m3: pA},
	}
	got := Diff(old, cur)
	want := Changes{Learned: []frame.MAC{m3}, Moved: []frame.MAC{m1}, Forgotten: []frame.MAC{m2}, LinksDown: []frame.PeerName{pC}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Diff (-want +got):\n%s", d)
	}
	if !Diff(cur, cur).Empty() {
		t.Error("Diff(v, v) not empty")
	}
	back := Diff(cur, old)
	if d := cmp.Diff([]frame.PeerName{pC}, back.LinksUp); d != "" {
		t.Errorf("LinksUp (-want +got):\n%s", d)
	}
	// An address change takes the link down and up again.
	moved := &View{Self: pA, Links: map[frame.PeerName]Link{pB: {ip2, LinkUp}, pC: {ip2, LinkUp}}, MACs: old.MACs}
	ch := Diff(old, moved)
	if d := cmp.Diff(Changes{LinksDown: []frame.PeerName{pB}, LinksUp: []frame.PeerName{pB}}, ch); d != "" {
		t.Errorf("address change (-want +got):\n%s", d)
	}
	if !Diff(nil, nil).Empty() {
		t.Error("Diff(nil, nil) not empty")
	}
}

func TestLinkDecision(t *testing.T) {
	now := time.Unix(1000, 0)
	d := 2 * time.Second
	tests := []struct {
		backend string
		in      LinkInput
		want    LinkState
	}{
		{ModeVXLAN, LinkInput{Peer: pB, Addr: ip1, LastAck: now.Add(-time.Second)}, LinkUp},
		{ModeVXLAN, LinkInput{Peer: pB, Addr: ip1, LastAck: now.Add(-3 * time.Second)}, LinkProbe},
		{ModeVXLAN, LinkInput{Peer: pB, Addr: ip1}, LinkProbe},
		{ModeVXLAN, LinkInput{Peer: pB, Addr: ip1, Encrypted: true, LastAck: now}, LinkOff},
		{ModeVXLAN, LinkInput{Peer: pB, LastAck: now}, LinkOff},
		{ModeVXLAN, LinkInput{Peer: pB, Addr: netip.MustParseAddr("2001:db8::1"), LastAck: now}, LinkOff},
		{ModeVXLAN, LinkInput{Peer: pB, Addr: netip.MustParseAddr("::ffff:192.0.2.1"), LastAck: now}, LinkUp},
		{ModeUserspace, LinkInput{Peer: pB, Addr: ip1, LastAck: now}, LinkOff},
	}
	for i, tt := range tests {
		got, reason := LinkDecision(tt.backend, tt.in, now, d)
		if got != tt.want || reason == "" {
			t.Errorf("%d: LinkDecision = %v %q, want %v", i, got, reason, tt.want)
		}
	}
}

// recorder is a Datapath that records the Views it was given.
type recorder struct {
	NullDatapath
	views []*View
}

func (r *recorder) Name() string         { return ModeVXLAN }
func (r *recorder) Update(v *View) error { r.views = append(r.views, v); return nil }

func TestControllerFallbackAndRecovery(t *testing.T) {
	now := time.Unix(1000, 0)
	rec := &recorder{}
	c := NewController(ControllerConfig{Self: pA, Datapath: rec, DownAfter: 2 * time.Second,
		Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	macs := map[frame.MAC]frame.PeerName{m1: pB, m2: pA}
	ack := now
	sync := func() {
		t.Helper()
		if err := c.Sync([]LinkInput{{Peer: pB, Addr: ip1, LastAck: ack}, {Peer: pC, Addr: ip2, Encrypted: true}}, macs); err != nil {
			t.Fatal(err)
		}
	}
	sync()
	v := c.View()
	if got := v.Links[pB].State; got != LinkUp {
		t.Fatalf("pB %v, want up", got)
	}
	if got := v.Links[pC].State; got != LinkOff {
		t.Fatalf("pC %v, want off", got)
	}
	if p, _, ok := v.Offloaded(m1); !ok || p != pB {
		t.Fatalf("m1 not offloaded to pB")
	}
	if _, _, ok := v.Offloaded(m2); ok {
		t.Fatal("a local MAC is offloaded")
	}
	if d := c.Decide(ethHeader(m1, m2), frame.UnknownPeer); d.Action != Remote || d.Addr != ip1 {
		t.Errorf("Decide local->m1 = %+v", d)
	}
	if d := c.Decide(ethHeader(HeartbeatMAC(pB), m2), frame.UnknownPeer); d.Action != Remote || d.Peer != pB {
		t.Errorf("Decide heartbeat = %+v", d)
	}
	if d := c.Decide(ethHeader(m2, m1), pB); d.Action != Local {
		t.Errorf("Decide remote->local = %+v", d)
	}
	if d := c.Decide(ethHeader(frame.Broadcast, m2), frame.UnknownPeer); d.Action != Userspace {
		t.Errorf("Decide broadcast = %+v", d)
	}

	now = now.Add(3 * time.Second) // heartbeats stop
	sync()
	if got := c.View().Links[pB].State; got != LinkProbe {
		t.Fatalf("after silence pB %v, want probe", got)
	}
	if _, _, ok := c.View().Offloaded(m1); ok {
		t.Fatal("m1 still offloaded after fallback")
	}
	if d := c.Decide(ethHeader(m1, m2), frame.UnknownPeer); d.Action != Userspace {
		t.Errorf("Decide after fallback = %+v", d)
	}
	ack = now // they resume
	sync()
	if got := c.View().Links[pB].State; got != LinkUp {
		t.Fatalf("after recovery pB %v, want up", got)
	}
	f, r, e := c.Counters()
	if f != 1 || r != 1 || e != 0 {
		t.Errorf("counters fallbacks %d recoveries %d errors %d, want 1 1 0", f, r, e)
	}
	ls := c.Links()
	if len(ls) != 2 || ls[0].Peer != pB || ls[0].Fallbacks != 1 || ls[0].Recoveries != 1 || ls[0].Reason == "" {
		t.Errorf("Links() = %+v", ls)
	}
	if got := c.Probed(); !cmp.Equal(got, []frame.PeerName{pB}) {
		t.Errorf("Probed() = %v, want [pB]", got)
	}
	if len(rec.views) != 3 {
		t.Errorf("backend got %d views, want 3", len(rec.views))
	}
	// A peer that disappears is dropped from the links.
	if err := c.Sync(nil, macs); err != nil {
		t.Fatal(err)
	}
	if len(c.Links()) != 0 || c.View().Links[pB].State != LinkOff {
		t.Errorf("links after removal: %+v", c.Links())
	}
}

func ethHeader(dst, src frame.MAC) frame.Ethernet {
	b := make([]byte, frame.EthernetHeaderSize)
	copy(b, dst[:])
	copy(b[6:], src[:])
	b[12], b[13] = 0x08, 0x00
	return frame.Ethernet(b)
}
