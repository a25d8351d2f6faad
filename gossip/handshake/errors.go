package handshake

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Sentinel errors. Every error returned by Client, Server, ReadMsg and
// WriteMsg that is caused by the peer or the wire wraps exactly one of
// these (test with errors.Is); I/O errors are wrapped as they are, so
// errors.Is(err, io.EOF), os.ErrDeadlineExceeded or net.ErrClosed keep
// working.
var (
	// ErrProtocol: the peer sent bytes that are not a valid weave-switch
	// handshake or record (bad magic, unknown record kind, bad length,
	// malformed hello, unexpected record).
	ErrProtocol = errors.New("protocol error")
	// ErrAuth: a Noise handshake message or an encrypted record failed
	// authentication. During the handshake the usual cause is a password
	// that differs between the two routers; after it, a record that was
	// modified, replayed, reordered or dropped on the wire.
	ErrAuth = errors.New("authentication failed (wrong password?)")
	// ErrVersion: the two routers' protocol version ranges do not overlap.
	ErrVersion = errors.New("no common protocol version")
	// ErrPassword: one router has a password and the other has none.
	ErrPassword = errors.New("password configured on one side only")
	// ErrTooBig: a message exceeds MaxMessageSize (or a hello exceeds
	// MaxHelloSize). Returned by WriteMsg before anything is sent, and by
	// ReadMsg as soon as the record headers announce it, before the body
	// is read or any memory is allocated for it.
	ErrTooBig = errors.New("message too big")
	// ErrRefused: the peer aborted the handshake with a reason this
	// version does not classify (an alert with an unknown code).
	ErrRefused = errors.New("refused by peer")
	// ErrTimeout: the handshake did not complete within Config.Timeout.
	// The error also wraps os.ErrDeadlineExceeded.
	ErrTimeout = errors.New("handshake timed out")
)

// Alert codes, the first byte of an alert record: they let the peer wrap
// the same sentinel error as the side that detected the failure.
const (
	alertOther    uint8 = 0
	alertProtocol uint8 = 1
	alertAuth     uint8 = 2
	alertVersion  uint8 = 3
	alertPassword uint8 = 4
)

// maxAlertText bounds the text of an alert.
const maxAlertText = 255

var alertSentinels = map[uint8]error{
	alertProtocol: ErrProtocol,
	alertAuth:     ErrAuth,
	alertVersion:  ErrVersion,
	alertPassword: ErrPassword,
}

// alert is the body of an alert record: the reason a router aborts the
// handshake, sent in plaintext to the peer so that both logs say why.
//
//	alert := code(1) | text(0..255, UTF-8, for humans)
type alert struct {
	code uint8
	text string
}

func (a alert) append(b []byte) []byte {
	text := a.text
	if len(text) > maxAlertText {
		text = text[:maxAlertText]
	}
	return append(append(b, a.code), text...)
}

func decodeAlert(b []byte) (alert, error) {
	if len(b) < 1 || len(b) > 1+maxAlertText {
		return alert{}, fmt.Errorf("%w: alert of %d bytes, want 1..%d", ErrProtocol, len(b), 1+maxAlertText)
	}
	return alert{code: b[0], text: string(b[1:])}, nil
}

// alertError is the error for an alert received from the peer. It wraps
// the sentinel of the alert's code (ErrRefused for an unknown code).
type alertError struct{ alert }

func (e *alertError) Error() string {
	return fmt.Sprintf("%v: reported by peer: %s", e.Unwrap(), sanitize(e.text))
}

func (e *alertError) Unwrap() error {
	if sentinel, ok := alertSentinels[e.code]; ok {
		return sentinel
	}
	return ErrRefused
}

// alertFor returns the alert that tells the peer about err, a failure
// detected locally, and whether there is one: only errors wrapping one of
// the sentinels are reported (not I/O errors, nor alerts from the peer).
func alertFor(err error) (alert, bool) {
	if errors.As(err, new(*alertError)) {
		return alert{}, false
	}
	for _, c := range []struct {
		code     uint8
		sentinel error
	}{
		{alertProtocol, ErrProtocol}, {alertProtocol, ErrTooBig}, {alertAuth, ErrAuth},
		{alertVersion, ErrVersion}, {alertPassword, ErrPassword},
	} {
		if errors.Is(err, c.sentinel) {
			text := strings.TrimPrefix(err.Error(), c.sentinel.Error()+": ")
			return alert{code: c.code, text: text}, true
		}
	}
	return alert{}, false
}

// sanitize makes peer-controlled text safe to log: no control characters,
// no invalid UTF-8.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}
