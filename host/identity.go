package host

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/atomicfile"
)

// LoadOrCreatePeerName returns the peer name kept in dir/peer-name. The
// first time, it derives one from the machine id and the network
// namespace (one name per namespace, so several routers on one machine
// differ) and writes it there atomically.
func LoadOrCreatePeerName(dir string) (frame.PeerName, error) {
	file := filepath.Join(dir, "peer-name")
	if b, err := os.ReadFile(file); err == nil {
		n, err := frame.ParsePeerName(strings.TrimSpace(string(b)))
		if err != nil {
			return 0, fmt.Errorf("%s: %w", file, err)
		}
		return n, nil
	}
	seed, _ := os.ReadFile("/etc/machine-id")
	if ns, err := os.Readlink("/proc/self/ns/net"); err == nil {
		seed = append(seed, ns...)
	}
	n := frame.PeerNameFromSeed(seed)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, fmt.Errorf("data dir: %w", err)
	}
	if err := atomicfile.Write(file, []byte(n.String()+"\n"), 0o600); err != nil {
		return 0, fmt.Errorf("save peer name: %w", err)
	}
	return n, nil
}

// SavePeerName writes n to dir/peer-name, where LoadOrCreatePeerName
// finds it, unless it is there already. It returns the name the file
// held before (UnknownPeer if none, or if it was unreadable).
func SavePeerName(dir string, n frame.PeerName) (frame.PeerName, error) {
	file := filepath.Join(dir, "peer-name")
	var old frame.PeerName
	if b, err := os.ReadFile(file); err == nil {
		old, _ = frame.ParsePeerName(strings.TrimSpace(string(b)))
	}
	if old == n {
		return old, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return old, fmt.Errorf("data dir: %w", err)
	}
	if err := atomicfile.Write(file, []byte(n.String()+"\n"), 0o600); err != nil {
		return old, fmt.Errorf("save peer name: %w", err)
	}
	return old, nil
}
