package kernel

import (
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/leakcheck"
	"github.com/weave-switch/weave-switch/link"
)

// fakeSource is a router with one neighbour whose fast path answers.
type fakeSource struct {
	mu      sync.Mutex
	gen     uint64
	enabled frame.MAC
	mtu     int
	sent    []link.FastTarget
	reads   int
}

func (f *fakeSource) FastLinks() []LinkInput {
	return []LinkInput{{Peer: pB, Addr: netip.MustParseAddr("192.0.2.2"), LastAck: time.Now()}}
}

func (f *fakeSource) MACOwners(gen uint64) (uint64, map[frame.MAC]frame.PeerName, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if gen == f.gen {
		return gen, nil, false
	}
	f.reads++
	return f.gen, map[frame.MAC]frame.PeerName{{2, 0, 0, 0, 0, 0xb}: pB}, true
}

func (f *fakeSource) TouchMAC(frame.MAC, frame.PeerName) bool { return true }

func (f *fakeSource) EnableFastHeartbeats(self frame.MAC, mtu int) {
	f.mu.Lock()
	f.enabled, f.mtu = self, mtu
	f.mu.Unlock()
}

func (f *fakeSource) SendFastHeartbeats(to []link.FastTarget) int {
	f.mu.Lock()
	f.sent = append(f.sent, to...)
	f.mu.Unlock()
	return len(to)
}

// closeRecorder is a recorder that notes its Close.
type closeRecorder struct {
	recorder
	closed bool
}

func (r *closeRecorder) Close() error { r.closed = true; return nil }

// A Service with a kernel backend enables the router's fast heartbeats,
// reconciles the backend with the router's links and MAC table (reading
// the table only when its generation moved), probes the link, and stops
// its goroutine and closes the backend on Close.
func TestServiceRun(t *testing.T) {
	leakcheck.Check(t)
	rec := &closeRecorder{}
	fence := &fakeFence{}
	s := NewService(ServiceConfig{Mode: ModeVXLAN, Env: Env{Self: pA, MTU: 1376}, Fence: fence,
		Builders: map[string]Builder{ModeVXLAN: func(Env) (Datapath, error) { return rec, nil }},
		Probes:   Probes{VXLAN: func() error { return nil }}})
	src := &fakeSource{gen: 1}
	if err := s.Start(src); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ls := s.Controller().Links()
		src.mu.Lock()
		sent := len(src.sent)
		src.mu.Unlock()
		if len(ls) == 1 && ls[0].State == LinkUp && sent > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("links %+v, heartbeats sent %d", ls, sent)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	src.mu.Lock()
	defer src.mu.Unlock()
	if src.enabled != HeartbeatMAC(pA) || src.mtu != 1376 {
		t.Errorf("EnableFastHeartbeats(%v, %d), want (%v, 1376)", src.enabled, src.mtu, HeartbeatMAC(pA))
	}
	if src.sent[0] != (link.FastTarget{Peer: pB, MAC: HeartbeatMAC(pB)}) {
		t.Errorf("heartbeat sent to %+v", src.sent[0])
	}
	if src.reads != 1 {
		t.Errorf("the MAC table was read %d times with its generation unchanged, want 1", src.reads)
	}
	if !rec.closed || !fence.closed {
		t.Errorf("Close closed the backend %v, the fence %v", rec.closed, fence.closed)
	}
	if got := fence.last(); len(got) != 1 || got[0] != netip.MustParseAddr("192.0.2.2") {
		t.Errorf("fence allows %v, want the link's address", got)
	}
	if st := s.Status(); st.Backend != ModeVXLAN || len(st.Links) != 1 || st.Links[0].State != "up" {
		t.Errorf("Status = %+v", st)
	}
}

// An explicitly asked backend this build lacks is an error; auto falls
// back to userspace and says why.
func TestServiceMissingBackend(t *testing.T) {
	ok := Probes{VXLAN: func() error { return nil }}
	if err := NewService(ServiceConfig{Mode: ModeVXLAN, Probes: ok}).Start(&fakeSource{}); err == nil {
		t.Error("--datapath vxlan without a vxlan backend started")
	}
	s := NewService(ServiceConfig{Mode: ModeAuto, Probes: ok})
	if err := s.Start(&fakeSource{}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if c := s.Choice(); c.Backend != ModeUserspace || c.Reason == "" {
		t.Errorf("Choice = %+v", c)
	}
}
