package isolation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// A Runner applies an nft script as one transaction.
type Runner interface {
	Apply(ctx context.Context, script string) error
}

// NFT runs the nft command, feeding the script on stdin (`nft -f -`).
// The zero value runs "nft" from PATH in the caller's network namespace.
// It is safe for concurrent use; nftables serialises transactions.
type NFT struct {
	// Command is the program and leading arguments; if empty, {"nft"}.
	// Tests use {"ip", "netns", "exec", NAME, "nft"}.
	Command []string
}

// ErrNoNFT is returned (wrapped) when the nft program is missing.
var ErrNoNFT = errors.New("the nft program (package nftables) is not installed")

// Apply implements Runner.Apply. The error carries nft's first line of
// complaint.
func (n NFT) Apply(ctx context.Context, script string) error {
	argv := n.Command
	if len(argv) == 0 {
		argv = []string{"nft"}
	}
	if _, err := exec.LookPath(argv[0]); err != nil {
		return fmt.Errorf("%w: %v", ErrNoNFT, err)
	}
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:len(argv):len(argv)], "-f", "-")...)
	cmd.Stdin = strings.NewReader(script)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(out.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("nft: %s", msg)
	}
	return nil
}

// Check verifies that nft is there and that the kernel takes a bridge
// table, by creating and deleting a scratch table in one transaction
// that leaves nothing behind.
func (n NFT) Check(ctx context.Context) error {
	const probe = "table bridge weave-switch-probe {}\ndelete table bridge weave-switch-probe\n"
	if err := n.Apply(ctx, probe); err != nil {
		return fmt.Errorf("nftables bridge filtering unavailable: %w", err)
	}
	return nil
}
