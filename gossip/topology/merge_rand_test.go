package topology

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/weave-switch/weave-switch/frame"
)

// poolEntry is peer name's entry at (inc, ver). Content is a function of
// (name, inc, ver), as the owner guarantees; 1 in 15 is invalid.
func poolEntry(name int, inc, ver uint64) Entry {
	var conns []Conn
	for k := 1; k <= 8; k++ {
		if k != name && (uint64(k)*7+inc*3+ver)%3 == 0 {
			conns = append(conns, est(k))
		}
	}
	e := ent(name, inc, ver, conns...)
	if (uint64(name)+inc*5+ver)%15 == 0 {
		e.Conns = append(e.Conns, est(name)) // invalid: connection to itself
	}
	return e
}

func randomBatch(rng *rand.Rand, maxName int) []Entry {
	b := make([]Entry, rng.IntN(5))
	for i := range b {
		b[i] = poolEntry(1+rng.IntN(maxName), 1+rng.Uint64N(3), rng.Uint64N(5))
	}
	return b
}

// refTopo is the obviously correct model of a Topology's merge, delta and
// anti-entropy behaviour.
type refTopo struct {
	self  Entry
	ents  map[frame.PeerName]Entry
	tombs map[frame.PeerName]stamp
	known map[frame.PeerName]map[frame.PeerName]stamp // neighbour → what it has
}

func (r *refTopo) merge(from frame.PeerName, es []Entry) (changed, restarted []frame.PeerName) {
	learn := func(name frame.PeerName, st stamp) {
		if k, ok := r.known[from]; ok {
			if old, has := k[name]; !has || st.cmp(old) > 0 {
				k[name] = st
			}
		}
	}
	for _, e := range es {
		if e.Validate() != nil {
			continue
		}
		if e.Name == r.self.Name {
			learn(e.Name, e.stamp())
			if c := e.stamp().cmp(r.self.stamp()); c > 0 || c == 0 && e.UID != r.self.UID {
				bump(&r.self, e.stamp())
			}
			continue
		}
		cur, ok := r.ents[e.Name]
		if !ok {
			if tb, dead := r.tombs[e.Name]; dead && e.stamp().cmp(tb) <= 0 {
				continue
			}
			for _, k := range r.known {
				delete(k, e.Name) // a new peer: nobody is known to have it
			}
		} else if e.stamp().cmp(cur.stamp()) <= 0 {
			learn(e.Name, e.stamp())
			continue
		} else if cur.Incarnation != e.Incarnation || cur.UID != e.UID {
			restarted = append(restarted, e.Name)
		}
		delete(r.tombs, e.Name)
		r.ents[e.Name] = e
		learn(e.Name, e.stamp())
		changed = append(changed, e.Name)
	}
	slices.Sort(changed)
	slices.Sort(restarted)
	return slices.Compact(changed), slices.Compact(restarted)
}

func (r *refTopo) all() map[frame.PeerName]Entry {
	m := maps.Clone(r.ents)
	m[r.self.Name] = r.self
	return m
}

func (r *refTopo) entries() []Entry {
	m := r.all()
	out := []Entry{}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

func (r *refTopo) pending(nb frame.PeerName) []frame.PeerName {
	k, ok := r.known[nb]
	if !ok {
		return nil
	}
	var out []frame.PeerName
	for _, e := range r.entries() {
		if st, has := k[e.Name]; !has || e.stamp().cmp(st) > 0 {
			out = append(out, e.Name)
		}
	}
	return out
}

func (r *refTopo) missing(remote []DigestItem) (theyNeed, weNeed []frame.PeerName) {
	rm := map[frame.PeerName]stamp{}
	for _, it := range remote {
		if st, ok := rm[it.Name]; it.Name != 0 && (!ok || it.stamp().cmp(st) > 0) {
			rm[it.Name] = it.stamp()
		}
	}
	m := r.all()
	for _, e := range r.entries() {
		if st, ok := rm[e.Name]; !ok || e.stamp().cmp(st) > 0 {
			theyNeed = append(theyNeed, e.Name)
		}
	}
	for name, st := range rm {
		e, ok := m[name]
		tb, dead := r.tombs[name]
		if ok && st.cmp(e.stamp()) > 0 || !ok && (!dead || st.cmp(tb) > 0) {
			weNeed = append(weNeed, name)
		}
	}
	slices.Sort(weNeed)
	return theyNeed, weNeed
}

func randomDigest(rng *rand.Rand) []DigestItem {
	var d []DigestItem
	for p := 1; p <= 9; p++ {
		if rng.IntN(3) > 0 {
			d = append(d, DigestItem{pn(p), 1 + rng.Uint64N(3), rng.Uint64N(5)})
		}
	}
	rng.Shuffle(len(d), func(i, j int) { d[i], d[j] = d[j], d[i] })
	return d
}

func TestMergeDifferential(t *testing.T) {
	rng := newRand(7)
	for iter := range 300 {
		self := ent(1, 2, 2, est(2))
		tp := newTopo(t, self, nil)
		ref := &refTopo{self: self, ents: map[frame.PeerName]Entry{}, tombs: map[frame.PeerName]stamp{}, known: map[frame.PeerName]map[frame.PeerName]stamp{}}
		nbs := pns(2, 3, 4)
		for step := range 200 {
			nb := nbs[rng.IntN(len(nbs))]
			var gotC, gotR, wantC, wantR []frame.PeerName
			switch op := rng.IntN(12); op {
			case 0, 1, 2:
				b := randomBatch(rng, 8)
				gotC, gotR = tp.Merge(slices.Clone(b))
				wantC, wantR = ref.merge(0, b)
			case 3, 4:
				b := randomBatch(rng, 8)
				gotC, gotR = tp.MergeFrom(nb, slices.Clone(b))
				wantC, wantR = ref.merge(nb, b)
			case 5: // the same, through the wire
				var valid []Entry
				var enc []byte
				for _, e := range randomBatch(rng, 8) {
					if e.Validate() == nil {
						valid = append(valid, e)
						enc = AppendEntry(enc, e)
					}
				}
				var err error
				if gotC, gotR, err = tp.MergeEncoded(nb, enc); err != nil {
					t.Fatal(err)
				}
				wantC, wantR = ref.merge(nb, valid)
			case 6:
				tp.AddNeighbor(nb)
				ref.known[nb] = map[frame.PeerName]stamp{}
			case 7:
				if rng.IntN(4) == 0 {
					tp.RemoveNeighbor(nb)
					delete(ref.known, nb)
				}
			case 8:
				p := tp.PendingFor(nb)
				if got, want := names(p), ref.pending(nb); !slices.Equal(got, want) {
					t.Fatalf("iter %d step %d: PendingFor(%v) = %v, want %v", iter, step, nb, got, want)
				}
				if len(p) > 0 {
					p = p[:rng.IntN(len(p)+1)]
				}
				tp.Sent(nb, p)
				ref.merge(nb, nil)
				for _, e := range p {
					if k, ok := ref.known[nb]; ok {
						if st, has := k[e.Name]; !has || e.stamp().cmp(st) > 0 {
							k[e.Name] = e.stamp()
						}
					}
				}
			case 9:
				d := randomDigest(rng)
				tp.KnownBy(nb, d)
				if _, ok := ref.known[nb]; ok {
					k := map[frame.PeerName]stamp{}
					m := ref.all()
					for _, it := range canonicalDigest(d) {
						if _, live := m[it.Name]; live {
							k[it.Name] = it.stamp()
						}
					}
					ref.known[nb] = k
				}
			case 10:
				d := randomDigest(rng)
				theyNeed, weNeed := tp.Missing(d)
				wantT, wantW := ref.missing(d)
				if !slices.Equal(names(theyNeed), wantT) || !slices.Equal(weNeed, wantW) {
					t.Fatalf("iter %d step %d: Missing(%v) = %v, %v; want %v, %v", iter, step, d, names(theyNeed), weNeed, wantT, wantW)
				}
			case 11:
				if rng.IntN(2) == 0 {
					p := pn(1 + rng.IntN(8))
					e, ok := ref.ents[p]
					if got := tp.Forget(p); got != ok {
						t.Fatalf("Forget(%v) = %v", p, got)
					}
					if ok {
						ref.tombs[p] = e.stamp()
						delete(ref.ents, p)
					}
				} else {
					conns := poolEntry(1, 1, rng.Uint64N(9)).Conns
					tp.SetSelf(conns, nil)
					if !slices.Equal(conns, ref.self.Conns) {
						bump(&ref.self, ref.self.stamp())
						ref.self.Conns = conns
					}
				}
			}
			if !slices.Equal(gotC, wantC) || !slices.Equal(gotR, wantR) {
				t.Fatalf("iter %d step %d: Merge = %v, %v; want %v, %v", iter, step, gotC, gotR, wantC, wantR)
			}
			if want, got := ref.entries(), tp.Entries(); !sameEntries(want, got) {
				diff := cmp.Diff(want, got, cmpopts.EquateEmpty())
				t.Fatalf("iter %d step %d: entries (-want +got):\n%s", iter, step, diff)
			}
			checkInvariants(t, tp)
			var sum uint64
			for _, it := range tp.Digest() {
				sum += itemHash(it.Name, it.stamp())
			}
			if sum != tp.Summary() {
				t.Fatalf("iter %d step %d: Summary drifted", iter, step)
			}
		}
	}
}

// sameEntries compares through the canonical encoding (fast; equal
// encodings ⇔ equal entries, nil and empty alike).
func sameEntries(a, b []Entry) bool {
	if len(a) != len(b) {
		return false
	}
	var x, y []byte
	for i := range a {
		x, y = AppendEntry(x[:0], a[i]), AppendEntry(y[:0], b[i])
		if string(x) != string(y) {
			return false
		}
	}
	return true
}
