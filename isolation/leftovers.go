package isolation

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// StateFile is the name, in the data directory, of the file a running
// Service keeps its host-side state in (ports, exposed addresses,
// forwardings, the IPv4 forwarding to restore). A clean Close removes
// it; a router that was killed leaves it.
const StateFile = "host-side.json"

// SavedIPForward returns the IPv4 forwarding ("0" or "1") a Service that
// did not close cleanly recorded in dataDir before NAT turned it on, or
// "" when it recorded none (no state file, or no NAT rule needed it).
func SavedIPForward(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var st hostState
	if err := json.Unmarshal(b, &st); err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(dataDir, StateFile), err)
	}
	return st.IPForward, nil
}
