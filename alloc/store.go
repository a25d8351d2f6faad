package alloc

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Store keeps an allocator's state across restarts. Implementations must
// make a Save durable before returning: the allocator relies on it (a
// transfer is on disk before any peer can hear of it).
type Store interface {
	// Load returns the stored state (nil if none) and allocations.
	Load() (state []byte, allocs map[string][]netip.Addr, err error)
	// SaveState replaces the stored state.
	SaveState(state []byte) error
	// SaveKey replaces key's addresses; none deletes the key.
	SaveKey(key string, addrs []netip.Addr) error
}

// MemStore is a Store in memory (tests, simulations). It is safe for
// concurrent use.
type MemStore struct {
	mu     sync.Mutex
	state  []byte
	allocs map[string][]netip.Addr
}

// Load implements Store.Load.
func (s *MemStore) Load() ([]byte, map[string][]netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]netip.Addr{}
	for k, v := range s.allocs {
		out[k] = slices.Clone(v)
	}
	return slices.Clone(s.state), out, nil
}

// SaveState implements Store.SaveState.
func (s *MemStore) SaveState(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state = slices.Clone(b)
	return nil
}

// SaveKey implements Store.SaveKey.
func (s *MemStore) SaveKey(key string, addrs []netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.allocs == nil {
		s.allocs = map[string][]netip.Addr{}
	}
	if len(addrs) == 0 {
		delete(s.allocs, key)
	} else {
		s.allocs[key] = slices.Clone(addrs)
	}
	return nil
}

// Clone returns an independent copy (a snapshot of a "disk").
func (s *MemStore) Clone() *MemStore {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &MemStore{state: slices.Clone(s.state), allocs: maps.Clone(s.allocs)}
	return c
}

// BoltStore is a Store in a bbolt database file: bucket "ring" holds the
// state under key "state", bucket "allocs" maps each key to its
// addresses (4 bytes each).
type BoltStore struct {
	db   *bolt.DB
	path string
}

// CorruptError says that the database file is damaged: it cannot be
// opened or read, or what it holds does not decode. Its message is the
// one line an operator needs: the file and how to start again.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("the address database %s is damaged (%v): move it aside (or remove it) and start again; "+
		"the router then re-joins the allocation ring from its peers but forgets which addresses its containers hold, "+
		"so detach and re-attach them", e.Path, e.Err)
}

// Unwrap returns the cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// noPanic runs fn, turning a panic (bbolt panics on some damaged pages)
// into an error.
func noPanic(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bbolt panicked: %v", r)
		}
	}()
	return fn()
}

var (
	bucketRing   = []byte("ring")
	bucketAllocs = []byte("allocs")
	keyState     = []byte("state")
)

// OpenBolt opens (creating if needed) the database at path. A second
// router on the same data directory fails here rather than corrupting it.
// A damaged file gives a *CorruptError.
func OpenBolt(path string) (*BoltStore, error) {
	var db *bolt.DB
	err := noPanic(func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		return err
	})
	switch {
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, fmt.Errorf("open %s: another process holds it (a router on the same --data-dir?)", path)
	case err != nil && isFileError(err):
		return nil, fmt.Errorf("open %s: %w", path, err)
	case err != nil:
		return nil, &CorruptError{Path: path, Err: err}
	}
	err = noPanic(func() error {
		return db.Update(func(tx *bolt.Tx) error {
			if _, err := tx.CreateBucketIfNotExists(bucketRing); err != nil {
				return err
			}
			_, err := tx.CreateBucketIfNotExists(bucketAllocs)
			return err
		})
	})
	if err != nil {
		_ = noPanic(db.Close)
		return nil, &CorruptError{Path: path, Err: err}
	}
	return &BoltStore{db: db, path: path}, nil
}

// isFileError reports whether err is about the file system (permission,
// missing directory, read-only) rather than the file's content.
func isFileError(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Op != "read"
}

// Close closes the database.
func (s *BoltStore) Close() error { return s.db.Close() }

// Load implements Store.Load. A state that does not decode, an
// allocation of the wrong size or a damaged page gives a *CorruptError.
func (s *BoltStore) Load() (state []byte, allocs map[string][]netip.Addr, err error) {
	allocs = map[string][]netip.Addr{}
	err = noPanic(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			if v := tx.Bucket(bucketRing).Get(keyState); v != nil {
				if _, err := DecodeState(v); err != nil {
					return fmt.Errorf("stored state: %w", err)
				}
				state = slices.Clone(v)
			}
			return tx.Bucket(bucketAllocs).ForEach(func(k, v []byte) error {
				if len(v)%4 != 0 {
					return fmt.Errorf("allocation of %q: %d bytes", k, len(v))
				}
				for i := 0; i < len(v); i += 4 {
					allocs[string(k)] = append(allocs[string(k)], netip.AddrFrom4([4]byte(v[i:i+4])))
				}
				return nil
			})
		})
	})
	if err != nil {
		return nil, nil, &CorruptError{Path: s.path, Err: err}
	}
	return state, allocs, nil
}

// SaveState implements Store.SaveState.
func (s *BoltStore) SaveState(b []byte) error {
	return noPanic(func() error {
		return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketRing).Put(keyState, b) })
	})
}

// SaveKey implements Store.SaveKey.
func (s *BoltStore) SaveKey(key string, addrs []netip.Addr) error {
	return noPanic(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAllocs)
			if len(addrs) == 0 {
				return b.Delete([]byte(key))
			}
			v := make([]byte, 0, 4*len(addrs))
			for _, a := range addrs {
				a4 := a.As4()
				v = append(v, a4[:]...)
			}
			return b.Put([]byte(key), v)
		})
	})
}
