package ovs

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/kernel"
)

// refTable is the obviously correct flow table: a slice, scanned.
type refTable []flowState

func (r *refTable) add(f flowState) {
	r.remove(f.Key)
	*r = append(*r, f)
}

func (r *refTable) remove(k flowKey) bool {
	for i, f := range *r {
		if f.Key == k {
			*r = slices.Delete(*r, i, i+1)
			return true
		}
	}
	return false
}

func (r refTable) forMAC(m frame.MAC) []flowKey {
	var out []flowKey
	for _, f := range r {
		if f.Key.Src == m || f.Key.Dst == m {
			out = append(out, f.Key)
		}
	}
	slices.SortFunc(out, compareKeys)
	return out
}

func (r refTable) forPeer(p frame.PeerName) []flowKey {
	var out []flowKey
	for _, f := range r {
		if f.Peer == p {
			out = append(out, f.Key)
		}
	}
	slices.SortFunc(out, compareKeys)
	return out
}

// The indexed table agrees with the reference over random adds, removes
// and the removals a MAC move or a link loss does.
func TestFlowTableAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	macs := make([]frame.MAC, 6)
	for i := range macs {
		macs[i] = frame.MAC{2, 0, 0, 0, 0, byte(i + 1)}
	}
	peers := []frame.PeerName{11, 12, 13}
	addrs := []netip.Addr{netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")}
	randKey := func() flowKey {
		k := flowKey{InPort: uint32(1 + rng.IntN(2)), Src: macs[rng.IntN(len(macs))], Dst: macs[rng.IntN(len(macs))]}
		if k.InPort == 2 {
			k.Tunnel, k.TunID, k.TunSrc, k.TunDst = true, 7, addrs[rng.IntN(2)], addrs[0]
		}
		return k
	}
	tab, ref := newFlowTable(), &refTable{}
	for i := range 20000 {
		switch op := rng.IntN(10); {
		case op < 5:
			f := flowState{Key: randKey(), Peer: peers[rng.IntN(len(peers))]}
			tab.add(f)
			ref.add(f)
		case op < 7:
			k := randKey()
			if got, want := tab.remove(k), ref.remove(k); got != want {
				t.Fatalf("op %d: remove(%v) = %v, want %v", i, k, got, want)
			}
		case op < 8: // a MAC moves: remove its flows
			m := macs[rng.IntN(len(macs))]
			got, want := tab.forMAC(m), ref.forMAC(m)
			if !slices.Equal(got, want) {
				t.Fatalf("op %d: forMAC(%v) = %v, want %v", i, m, got, want)
			}
			for _, k := range got {
				tab.remove(k)
				ref.remove(k)
			}
		case op < 9: // a link goes down: remove its peer's flows
			p := peers[rng.IntN(len(peers))]
			got, want := tab.forPeer(p), ref.forPeer(p)
			if !slices.Equal(got, want) {
				t.Fatalf("op %d: forPeer(%v) = %v, want %v", i, p, got, want)
			}
			for _, k := range got {
				tab.remove(k)
				ref.remove(k)
			}
		default:
			if tab.len() != len(*ref) {
				t.Fatalf("op %d: len = %d, want %d", i, tab.len(), len(*ref))
			}
		}
	}
	// The indexes hold nothing for flows that are gone.
	for _, k := range tab.all() {
		tab.remove(k.Key)
	}
	if len(tab.byMAC) != 0 || len(tab.byPeer) != 0 {
		t.Errorf("empty table keeps index entries: %d MACs, %d peers", len(tab.byMAC), len(tab.byPeer))
	}
}

var (
	pSelf = frame.PeerName(1)
	pB    = frame.PeerName(2)
	pC    = frame.PeerName(3)
	aB    = netip.MustParseAddr("198.51.100.2")
	aC    = netip.MustParseAddr("198.51.100.3")
	mA    = frame.MAC{2, 0, 0, 0, 0, 0xa}
	mB1   = frame.MAC{2, 0, 0, 0, 0, 0xb1}
	mB2   = frame.MAC{2, 0, 0, 0, 0, 0xb2}
	mC    = frame.MAC{2, 0, 0, 0, 0, 0xc}
	tp    = ports{Bridge: 1, VXLAN: 2, VNI: 0x7773}
)

func view(links map[frame.PeerName]kernel.Link, macs map[frame.MAC]frame.PeerName) *kernel.View {
	return &kernel.View{Self: pSelf, Links: links, MACs: macs}
}

func up(a netip.Addr) kernel.Link { return kernel.Link{Addr: a, State: kernel.LinkUp} }

// flowsFor installs the two flows of a conversation between local MAC l
// and remote MAC r on peer p at a.
func flowsFor(t *flowTable, l, r frame.MAC, p frame.PeerName, a netip.Addr) {
	t.add(flowState{Key: flowKey{InPort: tp.Bridge, Src: l, Dst: r}, Peer: p,
		Action: flowAction{Output: tp.VXLAN, Tunnel: true, TunID: tp.VNI, TunDst: a}})
	t.add(flowState{Key: flowKey{InPort: tp.VXLAN, Src: r, Dst: l, Tunnel: true, TunID: tp.VNI, TunSrc: a}, Peer: p,
		Action: flowAction{Output: tp.Bridge}})
}

func TestInvalidated(t *testing.T) {
	links := map[frame.PeerName]kernel.Link{pB: up(aB), pC: up(aC)}
	macs := map[frame.MAC]frame.PeerName{mA: pSelf, mB1: pB, mB2: pB, mC: pC}
	base := view(links, macs)
	with := func(edit func(l map[frame.PeerName]kernel.Link, m map[frame.MAC]frame.PeerName)) *kernel.View {
		l, m := map[frame.PeerName]kernel.Link{}, map[frame.MAC]frame.PeerName{}
		for k, v := range links {
			l[k] = v
		}
		for k, v := range macs {
			m[k] = v
		}
		edit(l, m)
		return view(l, m)
	}
	tests := []struct {
		name string
		cur  *kernel.View
		want []string // "src>dst" of the flows removed
	}{
		{"nothing changed", base, nil},
		{"a MAC learned", with(func(_ map[frame.PeerName]kernel.Link, m map[frame.MAC]frame.PeerName) {
			m[frame.MAC{2, 9, 9, 9, 9, 9}] = pB
		}), nil},
		{"B1 moves to C", with(func(_ map[frame.PeerName]kernel.Link, m map[frame.MAC]frame.PeerName) { m[mB1] = pC }),
			[]string{"a>b1", "b1>a"}},
		{"B2 forgotten", with(func(_ map[frame.PeerName]kernel.Link, m map[frame.MAC]frame.PeerName) { delete(m, mB2) }),
			[]string{"a>b2", "b2>a"}},
		{"local A moves away", with(func(_ map[frame.PeerName]kernel.Link, m map[frame.MAC]frame.PeerName) { m[mA] = pC }),
			[]string{"a>b1", "a>b2", "a>c", "b1>a", "b2>a", "c>a"}},
		{"B falls back to probing", with(func(l map[frame.PeerName]kernel.Link, _ map[frame.MAC]frame.PeerName) {
			l[pB] = kernel.Link{Addr: aB, State: kernel.LinkProbe}
		}), []string{"a>b1", "a>b2", "b1>a", "b2>a"}},
		{"B re-addressed", with(func(l map[frame.PeerName]kernel.Link, _ map[frame.MAC]frame.PeerName) {
			l[pB] = up(netip.MustParseAddr("198.51.100.22"))
		}), []string{"a>b1", "a>b2", "b1>a", "b2>a"}},
		{"C gone", with(func(l map[frame.PeerName]kernel.Link, _ map[frame.MAC]frame.PeerName) { delete(l, pC) }),
			[]string{"a>c", "c>a"}},
		{"no view at all", nil, []string{"a>b1", "a>b2", "a>c", "b1>a", "b2>a", "c>a"}},
	}
	name := map[frame.MAC]string{mA: "a", mB1: "b1", mB2: "b2", mC: "c"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tab := newFlowTable()
			flowsFor(tab, mA, mB1, pB, aB)
			flowsFor(tab, mA, mB2, pB, aB)
			flowsFor(tab, mA, mC, pC, aC)
			tab.add(flowState{Key: flowKey{InPort: tp.Bridge, Group: true}, Action: flowAction{Drop: true}}) // permanent
			var got []string
			for _, k := range invalidated(base, tt.cur, tab) {
				if k.Group {
					t.Fatal("the permanent group drop flow was invalidated")
				}
				got = append(got, name[k.Src]+">"+name[k.Dst])
			}
			slices.Sort(got)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("removed flows (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClassifyAndPlan(t *testing.T) {
	now := time.Unix(100, 0)
	addrs := map[netip.Addr]frame.PeerName{aB: pB}
	us := netip.MustParseAddr("198.51.100.1")
	fromBridge := upcall{InPort: tp.Bridge, Src: mA, Dst: mB1}
	fromB := upcall{InPort: tp.VXLAN, Src: mB1, Dst: mA, Tunnel: true, TunID: tp.VNI, TunSrc: aB, TunDst: us}
	tests := []struct {
		name     string
		u        upcall
		d        kernel.Decision
		wantFrom frame.PeerName
		wantV    verdict
		want     flowState
	}{
		{"bridge to a LinkUp peer", fromBridge, kernel.Decision{Action: kernel.Remote, Peer: pB, Addr: aB}, 0, vInstall,
			flowState{Key: flowKey{InPort: 1, Src: mA, Dst: mB1}, Peer: pB, Active: now,
				Action: flowAction{Output: 2, Tunnel: true, TunID: tp.VNI, TunDst: aB}}},
		{"peer to a local MAC", fromB, kernel.Decision{Action: kernel.Local, Peer: pSelf}, pB, vInstall,
			flowState{Key: flowKey{InPort: 2, Src: mB1, Dst: mA, Tunnel: true, TunID: tp.VNI, TunSrc: aB, TunDst: us},
				Peer: pB, Active: now, Action: flowAction{Output: 1}}},
		{"left to userspace", fromBridge, kernel.Decision{}, 0, vUserspace, flowState{}},
		{"a relay over the fast path", fromB, kernel.Decision{Action: kernel.Remote, Peer: pC, Addr: aC}, pB, vForeign, flowState{}},
		{"bridge to bridge", fromBridge, kernel.Decision{Action: kernel.Local}, 0, vForeign, flowState{}},
		{"remote without an IPv4 address", fromBridge, kernel.Decision{Action: kernel.Remote, Peer: pB}, 0, vForeign, flowState{}},
		{"unknown tunnel source", upcall{InPort: tp.VXLAN, Tunnel: true, TunID: tp.VNI, TunSrc: aC}, kernel.Decision{}, 0, vStranger, flowState{}},
		{"another VNI", upcall{InPort: tp.VXLAN, Tunnel: true, TunID: 9, TunSrc: aB}, kernel.Decision{}, 0, vStranger, flowState{}},
		{"unknown port", upcall{InPort: 7}, kernel.Decision{}, 0, vForeign, flowState{}},
		{"tunnel metadata on the bridge port", upcall{InPort: tp.Bridge, Tunnel: true}, kernel.Decision{}, 0, vForeign, flowState{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			from, v := classify(tt.u, tp, addrs)
			var f flowState
			if v == vInstall {
				f, v = plan(tt.u, from, tt.d, tp, now)
			}
			if from != tt.wantFrom || v != tt.wantV {
				t.Fatalf("from, verdict = %v, %v; want %v, %v", from, v, tt.wantFrom, tt.wantV)
			}
			if diff := cmp.Diff(tt.want, f, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("flow (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNamesFor(t *testing.T) {
	n := NamesFor("weave")
	if n != (Names{Datapath: "weave-dp", BridgePort: "weave-dpb", DatapathPort: "weave-dpo", VXLAN: "weave-dpvx"}) {
		t.Errorf("NamesFor(weave) = %+v", n)
	}
	for _, s := range []string{NamesFor("a-very-long-bridge").VXLAN, NamesFor("a-very-long-bridge").DatapathPort} {
		if len(s) > 15 {
			t.Errorf("%q is longer than IFNAMSIZ-1", s)
		}
	}
}
