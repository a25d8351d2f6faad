package host

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// permHint turns EPERM into an error that says what is missing.
func permHint(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%w (weave-switch needs root or CAP_NET_ADMIN)", err)
	}
	return err
}
