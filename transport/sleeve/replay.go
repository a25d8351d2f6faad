package sleeve

import "sync"

// Replay window: a ring of replayBlocks 64-bit words, one bit per counter
// (RFC 6479, as wireguard-go's replay.Filter). The newest counter accepted
// and the ReplayWindow counters before it are remembered exactly; anything
// older is refused.
const (
	replayBlockBits = 64
	replayBlocks    = 128 // 8192 bits, 1 KiB per receive key
	// ReplayWindow is how far behind the newest counter accepted under a
	// key a datagram may be and still be accepted (once): reordering of
	// up to 8128 datagrams is tolerated.
	ReplayWindow = (replayBlocks - 1) * replayBlockBits
	// maxCounter bounds the counters of a key: a sender stops before
	// reaching it (ErrKeyExhausted) and a receiver refuses it and above.
	// The gap below 2^64 (far more than the 2560 datagrams of the largest
	// flush) keeps a counter from ever wrapping.
	maxCounter = 1<<64 - 1<<16
)

// replayWindow tells fresh counters from replayed or too old ones, for one
// receive key. It is updated only after a datagram authenticated, so a
// forged counter cannot move it. Its mutex makes it safe for concurrent
// use; a Sleeve has one ReceiveFunc, so it is normally uncontended.
type replayWindow struct {
	mu   sync.Mutex
	last uint64 // newest counter accepted (0 before any)
	ring [replayBlocks]uint64
}

// check reports whether counter is fresh, and if so records it: false for
// a counter seen already, older than the window or at or above maxCounter.
func (w *replayWindow) check(counter uint64) bool {
	if counter >= maxCounter {
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	block := counter / replayBlockBits
	if counter > w.last {
		cur := w.last / replayBlockBits
		diff := min(block-cur, replayBlocks)
		for i := cur + 1; i <= cur+diff; i++ {
			w.ring[i%replayBlocks] = 0
		}
		w.last = counter
	} else if w.last-counter > ReplayWindow {
		return false
	}
	word, bit := &w.ring[block%replayBlocks], uint64(1)<<(counter%replayBlockBits)
	if *word&bit != 0 {
		return false
	}
	*word |= bit
	return true
}

// next returns the counter after the newest one accepted, 0 if none was:
// what a window re-created with resume must refuse below.
func (w *replayWindow) next() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.last == 0 && w.ring[0]&1 == 0 {
		return 0
	}
	return w.last + 1
}

// resume makes a fresh window refuse every counter below next, as if they
// had all been accepted: for a key installed again after its removal.
func (w *replayWindow) resume(next uint64) {
	if next == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = next - 1
	for i := range w.ring {
		w.ring[i] = ^uint64(0)
	}
	// Counters after last in its block are still to come.
	w.ring[(w.last/replayBlockBits)%replayBlocks] = ^uint64(0) >> (63 - w.last%replayBlockBits)
}
