package ethswitch

import (
	"math/rand/v2"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
)

// TestIndexRandom checks the open-addressing index against a map over
// random inserts and removals, with keys drawn from a small space so that
// probe runs collide and wrap.
func TestIndexRandom(t *testing.T) {
	for _, n := range []int{1, 3, 8, 100} {
		x := newIndex(n)
		ref := map[uint64]int32{}
		free := make([]int32, n)
		for i := range free {
			free[i] = int32(i)
		}
		r := rand.New(rand.NewPCG(uint64(n), 42))
		for range 20000 {
			k := r.Uint64N(uint64(3*n)) << (r.UintN(2) * 40) // includes key 0
			_, in := ref[k]
			switch {
			case in && r.IntN(2) == 0:
				free = append(free, ref[k])
				delete(ref, k)
				x.remove(k)
			case !in && len(free) > 0:
				p := free[len(free)-1]
				free = free[:len(free)-1]
				ref[k] = p
				x.insert(k, p)
			}
			for k, p := range ref {
				if got := x.find(k); got != p {
					t.Fatalf("n=%d: find(%#x) = %d, want %d", n, k, got, p)
				}
			}
			if got := x.find(k); got != -1 && !in && ref[k] != got {
				t.Fatalf("n=%d: find(%#x) = %d for an absent key", n, k, got)
			}
		}
	}
}

func TestMACKey(t *testing.T) {
	for _, m := range []frame.MAC{{}, frame.Broadcast, macA, {1, 2, 3, 4, 5, 6}} {
		if got := keyMAC(macKey(m)); got != m {
			t.Errorf("round trip %v -> %v", m, got)
		}
	}
}

// floodMAC returns the i-th MAC of a random-source flood: unicast, locally
// administered, distinct for every i < 2^40.
func floodMAC(i uint64) frame.MAC {
	return frame.MAC{0x06, byte(i >> 32), byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
}

// TestEvictionUnderFlood floods the table with random source MACs, from
// the bridge and from a peer, and checks the bound, the eviction count and
// that established MACs (seen more than once) survive.
func TestEvictionUnderFlood(t *testing.T) {
	tests := []struct {
		name       string
		maxEntries int
		fromPeer   bool
	}{
		{"local flood, tiny table", 4, false},
		{"local flood", 256, false},
		{"peer flood", 256, true},
		{"peer flood, table grows to its bound", 1000, true},
		{"one entry", 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, clk := newTestSwitch(t, tt.maxEntries)
			// Established MACs: learned, then seen again (no more than
			// one insertion's second chances).
			established := min(tt.maxEntries/4, maxSecondChances)
			for i := range established {
				m := frame.MAC{0x02, 0xee, 0, 0, 0, byte(i)}
				learnAt(s, m, self)
				learnAt(s, m, self)
			}
			b := frame.NewBatch(128, 0)
			out := make([]Decision, 128)
			r := rand.New(rand.NewPCG(1, 2))
			const batches = 50
			for range batches {
				for i := range 128 {
					setFrame(b, i, frame.Broadcast, floodMAC(r.Uint64()), 64)
					b.Meta[i] = frame.Meta{Src: peerB}
				}
				b.N = 128
				if tt.fromPeer {
					s.FromPeer(b, out)
				} else {
					s.FromLocal(b, out)
				}
				clk.Advance(1e6)
				if n := s.Stats().Entries; n > tt.maxEntries {
					t.Fatalf("%d entries > MaxEntries %d", n, tt.maxEntries)
				}
			}
			checkInvariants(t, s)
			st := s.Stats()
			wantEvictions := uint64(established + batches*128 - tt.maxEntries)
			if st.Entries != tt.maxEntries || st.Evictions != wantEvictions {
				t.Errorf("entries %d evictions %d, want %d and %d", st.Entries, st.Evictions, tt.maxEntries, wantEvictions)
			}
			for i := range established {
				m := frame.MAC{0x02, 0xee, 0, 0, 0, byte(i)}
				if _, ok := s.Lookup(m); !ok {
					t.Errorf("established %v evicted by the flood", m)
				}
			}
		})
	}
}

// TestTableGrows: the table starts with room for minTableEntries MACs and
// doubles when full, keeping every entry, its owner and its list, up to
// MaxEntries and no further.
func TestTableGrows(t *testing.T) {
	const max = 1500
	s, _ := newTestSwitch(t, max)
	room := func() int {
		s.fdb.RLock()
		defer s.fdb.RUnlock()
		return len(s.fdb.slab)
	}
	if r := room(); r != minTableEntries {
		t.Fatalf("new table has room for %d, want %d", r, minTableEntries)
	}
	mac := func(i int) frame.MAC { return frame.MAC{0x02, 0xcc, 0, 0, byte(i >> 8), byte(i)} }
	var rooms []int
	for i := range max {
		owner := self
		if i%3 == 0 {
			owner = peerB
		}
		learnAt(s, mac(i), owner)
		if i%2 == 0 {
			learnAt(s, mac(i), owner) // seen again: referenced
		}
		if r := room(); len(rooms) == 0 || rooms[len(rooms)-1] != r {
			rooms = append(rooms, r)
		}
	}
	checkInvariants(t, s)
	if want := []int{256, 512, 1024, 1500}; len(rooms) != len(want) || rooms[0] != want[0] || rooms[1] != want[1] || rooms[2] != want[2] || rooms[3] != want[3] {
		t.Fatalf("room while learning %d MACs: %v, want %v", max, rooms, want)
	}
	for i := range max {
		want := self
		if i%3 == 0 {
			want = peerB
		}
		if owner, ok := s.Lookup(mac(i)); !ok || owner != want {
			t.Fatalf("%v: owner %v %v after growth, want %v", mac(i), owner, ok, want)
		}
	}
	if st := s.Stats(); st.Entries != max || st.Evictions != 0 {
		t.Fatalf("entries %d evictions %d, want %d and 0", st.Entries, st.Evictions, max)
	}
	// Full: a new MAC evicts and the room stays at the bound.
	learnAt(s, frame.MAC{0x02, 0xdd, 0, 0, 0, 1}, self)
	checkInvariants(t, s)
	if st := s.Stats(); st.Entries != max || st.Evictions != 1 || room() != max {
		t.Fatalf("after one more MAC: entries %d evictions %d room %d", st.Entries, st.Evictions, room())
	}
}

// TestEvictionOrder pins the two-list CLOCK of doc.go on a 3-entry table.
func TestEvictionOrder(t *testing.T) {
	m := func(i byte) frame.MAC { return frame.MAC{2, 0, 0, 0, 0, i} }
	tests := []struct {
		name  string
		seen  []byte // MACs learned/seen, in order
		wantL []byte // MACs left afterwards, sorted
	}{
		{"fifo among one-shot MACs", []byte{1, 2, 3, 4, 5}, []byte{3, 4, 5}},
		{"seen twice survives", []byte{1, 2, 3, 1, 4, 5}, []byte{1, 4, 5}},
		{"promoted entries go only when probation is empty", []byte{1, 2, 3, 1, 2, 3, 4, 5, 6}, []byte{2, 3, 6}},
		{"second chance on established", []byte{1, 2, 3, 1, 2, 3, 4, 4, 2, 5}, []byte{2, 4, 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestSwitch(t, 3)
			for _, i := range tt.seen {
				learnAt(s, m(i), self)
			}
			var left []byte
			for _, e := range s.Entries() {
				left = append(left, e.MAC[5])
			}
			if string(left) != string(tt.wantL) {
				t.Errorf("left %v, want %v", left, tt.wantL)
			}
			checkInvariants(t, s)
		})
	}
}
