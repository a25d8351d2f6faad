package ovs

import (
	"encoding/binary"
	"testing"
)

// splitNlmsg walks datagrams from the kernel: whatever the bytes, it
// must stay inside them and always make progress.
func FuzzSplitNlmsg(f *testing.F) {
	one := make([]byte, 20)
	binary.NativeEndian.PutUint32(one, 20)
	f.Add(append(append([]byte(nil), one...), one...)) // two messages
	f.Add(one[:15])                                    // shorter than a header
	bad := append([]byte(nil), one...)
	binary.NativeEndian.PutUint32(bad, 200) // length past the end
	f.Add(bad)
	zero := make([]byte, 16) // length 0, below the header
	f.Add(zero)
	f.Fuzz(func(t *testing.T, b []byte) {
		for len(b) > 0 {
			h, body, rest, err := splitNlmsg(b)
			if err != nil {
				return
			}
			if int(h.Len) != 16+len(body) || len(rest) >= len(b) {
				t.Fatalf("len %d, body %d, rest %d of %d", h.Len, len(body), len(rest), len(b))
			}
			b = rest
		}
	})
}
