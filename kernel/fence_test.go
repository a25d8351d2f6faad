package kernel

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
)

// fakeFence records what the Controller allowed.
type fakeFence struct {
	mu      sync.Mutex
	started bool
	allowed [][]netip.Addr
	closed  bool
	err     error
}

func (f *fakeFence) Start() error { f.mu.Lock(); f.started = true; f.mu.Unlock(); return nil }

func (f *fakeFence) Allow(a []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.allowed = append(f.allowed, slices.Clone(a))
	return f.err
}

func (f *fakeFence) Dropped() (uint64, error) { return 7, nil }
func (f *fakeFence) Close() error             { f.mu.Lock(); f.closed = true; f.mu.Unlock(); return nil }

func (f *fakeFence) last() []netip.Addr {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.allowed) == 0 {
		return nil
	}
	return f.allowed[len(f.allowed)-1]
}

func TestFenceAddrs(t *testing.T) {
	ip3 := netip.MustParseAddr("192.0.2.3")
	v := &View{Self: pA, Links: map[frame.PeerName]Link{
		pB:                  {ip2, LinkUp},
		pC:                  {ip1, LinkProbe},
		frame.PeerName(0xd): {ip3, LinkOff},
		frame.PeerName(0xe): {netip.MustParseAddr("2001:db8::1"), LinkProbe},
		frame.PeerName(0xf): {netip.AddrFrom16(ip1.As16()), LinkUp}, // the same address, v4-mapped
		pA:                  {ip3, LinkUp},
	}}
	if got, want := FenceAddrs(v), []netip.Addr{ip1, ip2}; !slices.Equal(got, want) {
		t.Errorf("FenceAddrs = %v, want %v", got, want)
	}
	if got := FenceAddrs(nil); got != nil {
		t.Errorf("FenceAddrs(nil) = %v", got)
	}
}

func TestFenceScript(t *testing.T) {
	got := FenceScript("weave-switch-weave", 6785, []netip.Addr{ip1, ip2})
	want := `table inet weave-switch-weave {}
delete table inet weave-switch-weave
table inet weave-switch-weave {
	counter fastpath-fence-drops {
	}
	set fastpath-peers {
		type ipv4_addr
		elements = { 192.0.2.1, 192.0.2.2 }
	}
	chain fastpath-fence {
		type filter hook input priority filter; policy accept;
		udp dport 6785 ip saddr @fastpath-peers accept
		udp dport 6785 counter name "fastpath-fence-drops" drop comment "not a fast-path peer"
	}
}
`
	if got != want {
		t.Errorf("FenceScript:\n%s\nwant:\n%s", got, want)
	}
	if s := FenceScript("t", 1, nil); strings.Contains(s, "elements") {
		t.Errorf("an empty fence lists elements:\n%s", s)
	}
	if got, want := FenceSetScript("t", []netip.Addr{ip1}), "flush set inet t fastpath-peers\nadd element inet t fastpath-peers { 192.0.2.1 }\n"; got != want {
		t.Errorf("FenceSetScript = %q, want %q", got, want)
	}
	if got, want := FenceSetScript("t", nil), "flush set inet t fastpath-peers\n"; got != want {
		t.Errorf("FenceSetScript(nil) = %q, want %q", got, want)
	}
	if got, want := FenceDeleteScript("t"), "table inet t {}\ndelete table inet t\n"; got != want {
		t.Errorf("FenceDeleteScript = %q, want %q", got, want)
	}
}

func TestParseFenceDrops(t *testing.T) {
	js := `{"nftables": [{"metainfo": {"version": "1.0.6", "json_schema_version": 1}}, {"counter": {"family": "inet", "name": "fastpath-fence-drops", "table": "weave-switch-weave", "handle": 1, "packets": 42, "bytes": 3000}}]}`
	if n, err := ParseFenceDrops([]byte(js)); err != nil || n != 42 {
		t.Errorf("ParseFenceDrops = %d, %v; want 42", n, err)
	}
	if _, err := ParseFenceDrops([]byte(`{"nftables": []}`)); err == nil {
		t.Error("no counter: no error")
	}
	if _, err := ParseFenceDrops([]byte(`{`)); err == nil {
		t.Error("bad JSON: no error")
	}
}

// The Controller keeps the fence in step with the links: a link that is
// not off may send to the port; an encrypted link is off unless the
// encryption is waived; a fence error is a Sync error.
func TestControllerFence(t *testing.T) {
	now := time.Unix(1000, 0)
	f := &fakeFence{}
	c := NewController(ControllerConfig{Self: pA, Datapath: &recorder{}, Fence: f, Now: func() time.Time { return now }})
	links := []LinkInput{{Peer: pB, Addr: ip1, LastAck: now}, {Peer: pC, Addr: ip2, Encrypted: true}}
	if err := c.Sync(links, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.last(); !slices.Equal(got, []netip.Addr{ip1}) {
		t.Errorf("fence allows %v, want only %v (the encrypted link is off)", got, ip1)
	}
	if err := c.Sync(links[:0], nil); err != nil {
		t.Fatal(err)
	}
	if got := f.last(); len(got) != 0 {
		t.Errorf("no links, fence allows %v", got)
	}

	u := NewController(ControllerConfig{Self: pA, Datapath: &recorder{}, Fence: f, Unencrypted: true, Now: func() time.Time { return now }})
	if err := u.Sync(links, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.last(); !slices.Equal(got, []netip.Addr{ip1, ip2}) {
		t.Errorf("unencrypted: fence allows %v, want both", got)
	}
	if ls := u.Links(); ls[1].State != LinkProbe {
		t.Errorf("unencrypted: the encrypted link is %v, want probe", ls[1].State)
	}

	f.err = errors.New("nft broke")
	if err := c.Sync(links, nil); err == nil || !strings.Contains(err.Error(), "nft broke") {
		t.Errorf("Sync with a failing fence: %v", err)
	}
	if _, _, syncErrors := c.Counters(); syncErrors != 1 {
		t.Errorf("sync errors %d, want 1", syncErrors)
	}
}

// With a password, an explicitly asked kernel backend needs the
// encryption waived, and then says so in status; auto stays in
// userspace.
func TestServiceUnencrypted(t *testing.T) {
	ok := Probes{VXLAN: func() error { return nil }}
	build := map[string]Builder{ModeVXLAN: func(Env) (Datapath, error) { return &recorder{}, nil }}
	err := NewService(ServiceConfig{Mode: ModeVXLAN, Encrypted: true, Probes: ok, Builders: build, Fence: &fakeFence{}}).Start(&fakeSource{})
	if err == nil || !strings.Contains(err.Error(), "--fastpath-unencrypted") {
		t.Errorf("vxlan with a password: %v, want an error naming --fastpath-unencrypted", err)
	}
	f := &fakeFence{}
	s := NewService(ServiceConfig{Mode: ModeVXLAN, Encrypted: true, Unencrypted: true, Probes: ok, Builders: build, Fence: f})
	if err := s.Start(&fakeSource{}); err != nil {
		t.Fatal(err)
	}
	st := s.Status()
	if !st.Unencrypted || !strings.Contains(st.UnencryptedReason, "--fastpath-unencrypted") || st.FenceDrops != 7 {
		t.Errorf("Status = %+v: want unencrypted with a reason, 7 fence drops", st)
	}
	s.Close()
	if !f.started || !f.closed {
		t.Errorf("fence started %v, closed %v", f.started, f.closed)
	}
	a := NewService(ServiceConfig{Mode: ModeAuto, Encrypted: true, Probes: ok, Builders: build, Fence: &fakeFence{}})
	if err := a.Start(&fakeSource{}); err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Choice().Backend != ModeUserspace || a.Status().Unencrypted {
		t.Errorf("auto with a password: %+v", a.Status())
	}
}

// A backend that fails to build takes the fence down again.
func TestServiceFenceRollback(t *testing.T) {
	f := &fakeFence{}
	s := NewService(ServiceConfig{Mode: ModeVXLAN, Probes: Probes{VXLAN: func() error { return nil }}, Fence: f,
		Builders: map[string]Builder{ModeVXLAN: func(Env) (Datapath, error) { return nil, errors.New("no") }}})
	if err := s.Start(&fakeSource{}); err == nil {
		t.Fatal("started")
	}
	if !f.started || !f.closed {
		t.Errorf("fence started %v, closed %v", f.started, f.closed)
	}
}
