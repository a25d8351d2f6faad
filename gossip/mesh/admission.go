package mesh

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Why an inbound control connection was refused: the first three before
// its handshake starts (admission), the next two by the handshake, the
// last after it.
const (
	RefusedRate         = "rate"        // its source's token bucket is empty
	RefusedSourceBusy   = "source_busy" // its source has too many handshakes in progress
	RefusedBusy         = "busy"        // too many handshakes in progress overall
	RefusedTimeout      = "timeout"     // the handshake did not finish in time
	RefusedHandshakeErr = "handshake"   // the handshake failed (password, version, protocol)
	RefusedNameClaim    = "name_claim"  // it claims the name of a peer connected from another address
)

// RefusalReasons are the reasons Status.HandshakesRefused counts, each
// reported even when zero.
var RefusalReasons = [...]string{RefusedRate, RefusedSourceBusy, RefusedBusy, RefusedTimeout, RefusedHandshakeErr, RefusedNameClaim}

// Admission limits for inbound handshakes. A source is an IPv4 address or
// an IPv6 /64 (one host usually has a whole /64). Each source has a token
// bucket of sourceBurst handshakes refilled at sourceRate a second, and at
// most sourceConcurrent handshakes in progress; at most maxConcurrent are
// in progress overall. A flood from a few sources so spends only its own
// buckets and slots, and a host from another source still gets in. Each
// handshake costs a Noise exchange, and each one with a wrong password is
// an online guess: the buckets also slow guessing down.
const (
	sourceRate       = 2.0 // handshakes per second per source
	sourceBurst      = 8
	sourceConcurrent = 4
	maxConcurrent    = 64
	// maxSources bounds the table of per-source state. It is larger than
	// maxConcurrent, so a full table always holds a source without a
	// handshake in progress, which can be evicted.
	maxSources = 4096
)

// admission decides which inbound connections may start a handshake. It
// is safe for concurrent use.
type admission struct {
	now func() time.Time

	mu       sync.Mutex
	sources  map[netip.Addr]*source
	inFlight int

	refused [len(RefusalReasons)]atomic.Uint64
}

// source is the state of one source address or prefix.
type source struct {
	tokens   float64
	last     time.Time // when tokens was last brought up to date
	inFlight int
}

func newAdmission(now func() time.Time) *admission {
	return &admission{now: now, sources: map[netip.Addr]*source{}}
}

// sourceKey is the source an address counts against: the address itself
// for IPv4, its /64 for IPv6.
func sourceKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is4() {
		return a
	}
	p, err := a.Prefix(64)
	if err != nil {
		return a
	}
	return p.Addr()
}

// admit reports whether a connection from addr may start a handshake and,
// if not, why. When it says yes, the caller must call release(addr) when
// the handshake is over.
func (a *admission) admit(addr netip.Addr) (ok bool, reason string) {
	key := sourceKey(addr)
	now := a.now()
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sources[key]
	if s == nil {
		a.makeRoom(now)
		s = &source{tokens: sourceBurst, last: now}
		a.sources[key] = s
	}
	s.refill(now)
	switch {
	case s.inFlight >= sourceConcurrent:
		reason = RefusedSourceBusy
	case a.inFlight >= maxConcurrent:
		reason = RefusedBusy
	case s.tokens < 1:
		reason = RefusedRate
	default:
		s.tokens--
		s.inFlight++
		a.inFlight++
		return true, ""
	}
	a.count(reason)
	return false, reason
}

// release ends a handshake that admit let in.
func (a *admission) release(addr netip.Addr) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inFlight--
	if s := a.sources[sourceKey(addr)]; s != nil {
		s.inFlight--
	}
}

func (s *source) refill(now time.Time) {
	if d := now.Sub(s.last); d > 0 {
		s.tokens = min(sourceBurst, s.tokens+d.Seconds()*sourceRate)
		s.last = now
	}
}

// makeRoom keeps the table below maxSources. When it is full, it drops
// every source whose bucket is full again and that has no handshake in
// progress (forgetting it loses nothing) and, if that frees less than an
// eighth of the table, sources without a handshake in progress until it
// does (they get a full bucket when they come back, which the cap on
// handshakes in progress overall bounds). Freeing an eighth at a time
// keeps the cost of the scan, spread over the insertions it makes room
// for, small under a spray of source addresses.
func (a *admission) makeRoom(now time.Time) {
	if len(a.sources) < maxSources {
		return
	}
	const batch = maxSources / 8
	freed := 0
	spare := make([]netip.Addr, 0, batch)
	for k, s := range a.sources {
		if s.inFlight > 0 {
			continue
		}
		s.refill(now)
		if s.tokens >= sourceBurst {
			delete(a.sources, k)
			freed++
		} else if len(spare) < batch {
			spare = append(spare, k)
		}
	}
	for _, k := range spare {
		if freed >= batch {
			break
		}
		delete(a.sources, k)
		freed++
	}
}

// count records a refusal.
func (a *admission) count(reason string) {
	for i, r := range RefusalReasons {
		if r == reason {
			a.refused[i].Add(1)
			return
		}
	}
}

// refusals returns the refusals so far, by reason, every reason present.
func (a *admission) refusals() map[string]uint64 {
	out := make(map[string]uint64, len(RefusalReasons))
	for i, r := range RefusalReasons {
		out[r] = a.refused[i].Load()
	}
	return out
}

// tracked returns how many sources the table holds (for tests).
func (a *admission) tracked() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.sources)
}
