package api

import (
	"fmt"
	"strings"
)

// KeyPrefixCNI starts the keys of the attachments the CNI plugin makes.
const KeyPrefixCNI = "cni:"

// maxKeyLen bounds an attachment key.
const maxKeyLen = 512

// CheckKey reports whether key can name an attachment made by a
// container runtime (AttachRequest.Key): it starts with KeyPrefixCNI,
// is at most 512 bytes long, and holds only printable ASCII other than
// white space and '/'. Keys of namespaces (paths) and of Docker
// containers cannot be named this way.
func CheckKey(key string) error {
	if !strings.HasPrefix(key, KeyPrefixCNI) || len(key) == len(KeyPrefixCNI) {
		return fmt.Errorf("key %q: want %s followed by the runtime's name for the attachment", key, KeyPrefixCNI)
	}
	if len(key) > maxKeyLen {
		return fmt.Errorf("key %.40q...: longer than %d bytes", key, maxKeyLen)
	}
	for _, c := range []byte(key) {
		if c <= ' ' || c >= 0x7f || c == '/' {
			return fmt.Errorf("key %q: %q is not allowed", key, c)
		}
	}
	return nil
}
