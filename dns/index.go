package dns

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/weave-switch/weave-switch/frame"
)

// index is an immutable view of the live entries for the server: names
// to addresses and addresses to names. A change builds a new one.
type index struct {
	names   map[string]*answers
	ptr     map[netip.Addr][]string
	entries int
}

// answers are the addresses of one name, unique, sorted.
type answers struct {
	v4, v6 []netip.Addr
}

// reindexLocked rebuilds the index from the live registers.
func (r *Registry) reindexLocked() {
	ix := &index{names: map[string]*answers{}, ptr: map[netip.Addr][]string{}}
	for _, h := range r.regs {
		for _, e := range h.Entries {
			ix.entries++
			a := ix.names[e.Name]
			if a == nil {
				a = &answers{}
				ix.names[e.Name] = a
			}
			if e.Addr.Is4() {
				a.v4 = append(a.v4, e.Addr)
			} else {
				a.v6 = append(a.v6, e.Addr)
			}
			ix.ptr[e.Addr] = append(ix.ptr[e.Addr], e.Name)
		}
	}
	for _, a := range ix.names {
		slices.SortFunc(a.v4, netip.Addr.Compare)
		a.v4 = slices.Compact(a.v4)
		slices.SortFunc(a.v6, netip.Addr.Compare)
		a.v6 = slices.Compact(a.v6)
	}
	for ad, ns := range ix.ptr {
		slices.Sort(ns)
		ix.ptr[ad] = slices.Compact(ns)
	}
	r.idx.Store(ix)
}

// lookup returns the addresses of name (any case, fully qualified), or
// nil. The slices are shared: read only. It does not allocate for a name
// already in lower case.
func (r *Registry) lookup(name string) *answers {
	return r.idx.Load().names[lower(name)]
}

// reverse returns the names of addr, shared: read only.
func (r *Registry) reverse(addr netip.Addr) []string {
	return r.idx.Load().ptr[addr]
}

// Lookup returns the addresses registered for name anywhere in the mesh
// (IPv4 first), in a new slice.
func (r *Registry) Lookup(name string) []netip.Addr {
	a := r.lookup(name)
	if a == nil {
		return nil
	}
	return append(slices.Clone(a.v4), a.v6...)
}

// Len returns the number of live entries.
func (r *Registry) Len() int { return r.idx.Load().entries }

// Self is the router this registry belongs to.
func (r *Registry) Self() frame.PeerName { return r.self }

func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// localLen returns the number of this router's entries.
func (r *Registry) localLen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.regs[r.self].Entries)
}
