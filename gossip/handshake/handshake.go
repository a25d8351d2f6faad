package handshake

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/flynn/noise"
)

// Client runs the handshake as the side that opened conn (the initiator),
// and returns the message channel. It never returns later than
// cfg.Timeout, nor much later than ctx is done.
//
// On error conn is closed, and the error names the cause with one of the
// sentinels (ErrVersion, ErrPassword, ErrAuth, ErrProtocol, ErrTooBig,
// ErrRefused, ErrTimeout), the context's error, or an I/O error. When the
// failure is one the peer cannot see by itself and it is our turn to
// write, the peer is told why in an alert record.
func Client(ctx context.Context, conn net.Conn, cfg Config) (*Conn, error) {
	return handshake(ctx, conn, cfg, true)
}

// Server runs the handshake as the side that accepted conn (the
// responder). It is Client's counterpart; see Client for the errors.
func Server(ctx context.Context, conn net.Conn, cfg Config) (*Conn, error) {
	return handshake(ctx, conn, cfg, false)
}

// alertTimeout bounds the write of an alert to a peer that does not read.
const alertTimeout = time.Second

// handshaker is the state of one handshake.
type handshaker struct {
	cfg      Config
	conn     net.Conn
	client   bool
	rng      io.Reader // source of the Noise ephemeral key: crypto/rand
	rr       recordReader
	rw       recordWriter
	ours     preamble
	theirs   preamble
	version  uint16
	dataC2S  [32]byte // data link keys, when encrypted
	dataS2C  [32]byte
	deadline time.Time
}

// readBuffer is a connection's read buffer: enough for a header and the
// everyday small record in one read. A bigger body is read straight into
// its record buffer, past it; and a router keeps one per connection, a
// thousand or more, mostly idle.
const readBuffer = 1 << 10

func handshake(ctx context.Context, conn net.Conn, cfg Config, client bool) (*Conn, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		conn.Close()
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("handshake aborted: %w", context.Cause(ctx))
	}
	h := &handshaker{
		cfg:      cfg,
		conn:     conn,
		client:   client,
		rng:      rand.Reader,
		rr:       recordReader{r: bufio.NewReaderSize(conn, readBuffer), alerts: true},
		rw:       recordWriter{w: conn},
		deadline: time.Now().Add(cfg.Timeout),
	}
	conn.SetDeadline(h.deadline)
	// ctx cancellation unblocks the I/O by moving the deadline to the past.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	remote, err := h.run()
	if !stop() && err == nil {
		err = errors.New("context done at the end of the handshake")
	}
	if err != nil {
		switch {
		case ctx.Err() != nil:
			err = fmt.Errorf("handshake aborted: %w (%v)", context.Cause(ctx), err)
		case errors.Is(err, os.ErrDeadlineExceeded):
			err = fmt.Errorf("%w after %v (peer stalled?): %w", ErrTimeout, cfg.Timeout, err)
		}
		conn.Close()
		return nil, fmt.Errorf("handshake with %v: %w", conn.RemoteAddr(), err)
	}
	conn.SetDeadline(time.Time{})
	return h.newConn(remote), nil
}

// run performs the exchange. The order is strict: a side writes only when
// the peer is reading, so it works over unbuffered pipes too.
func (h *handshaker) run() (Hello, error) {
	h.ours = preamble{min: h.cfg.minVersion, max: h.cfg.maxVersion}
	if len(h.cfg.Password) > 0 {
		h.ours.flags |= flagPassword
	}
	var err error
	if h.client {
		if _, err = h.conn.Write(h.ours.append(nil)); err != nil {
			return Hello{}, fmt.Errorf("sending preamble: %w", err)
		}
		if h.theirs, err = readPreamble(h.rr.r); err != nil {
			return Hello{}, err
		}
		// The server finds the same failure and sends the alert.
		if err = h.negotiate(); err != nil {
			return Hello{}, err
		}
	} else {
		if h.theirs, err = readPreamble(h.rr.r); err != nil {
			return Hello{}, err
		}
		// Our preamble goes out even if negotiation fails, so that the
		// client can name both ranges.
		if _, err = h.conn.Write(h.ours.append(nil)); err != nil {
			return Hello{}, fmt.Errorf("sending preamble: %w", err)
		}
		if err = h.negotiate(); err != nil {
			return Hello{}, h.abort(err)
		}
	}
	if len(h.cfg.Password) > 0 {
		if err := h.noise(); err != nil {
			return Hello{}, err
		}
	}
	return h.hellos()
}

// negotiate checks the peer's preamble against ours.
func (h *handshaker) negotiate() (err error) {
	switch {
	case h.ours.password() && !h.theirs.password():
		return fmt.Errorf("%w: peer sent an unencrypted handshake but we require a password", ErrPassword)
	case !h.ours.password() && h.theirs.password():
		return fmt.Errorf("%w: peer requires a password", ErrPassword)
	}
	h.version, err = negotiate(h.ours, h.theirs)
	return err
}

// noise runs Noise NNpsk0 (-> psk, e; <- e, ee) and switches the record
// layer to the transport keys.
func (h *handshaker) noise() error {
	cp, sp := h.ours, h.theirs
	if !h.client {
		cp, sp = sp, cp
	}
	prologue := sp.append(cp.append(nil)) // client preamble, server preamble
	hs, err := newNoise(h.client, derivePSK(h.cfg.Password), prologue, h.rng)
	if err != nil {
		return err
	}
	const msgSize = 32 + tagSize // an ephemeral key, then an empty payload's tag
	var c2s, s2c *noise.CipherState
	if h.client {
		msg, _, _, err := hs.WriteMessage(nil, nil)
		if err != nil {
			return err
		}
		if err := h.rw.writeRecord(kindNoise, msg); err != nil {
			return fmt.Errorf("sending noise message 1: %w", err)
		}
		msg, err = h.rr.readRecord(kindNoise)
		if err != nil {
			return h.closedEarly(err)
		}
		if len(msg) != msgSize {
			return h.abort(fmt.Errorf("%w: noise message 2 of %d bytes, want %d", ErrProtocol, len(msg), msgSize))
		}
		if _, c2s, s2c, err = hs.ReadMessage(nil, msg); err != nil {
			return h.abort(fmt.Errorf("%w: cannot authenticate noise message 2", ErrAuth))
		}
	} else {
		msg, err := h.rr.readRecord(kindNoise)
		if err != nil {
			return h.abort(err)
		}
		if len(msg) != msgSize {
			return h.abort(fmt.Errorf("%w: noise message 1 of %d bytes, want %d", ErrProtocol, len(msg), msgSize))
		}
		if _, _, _, err = hs.ReadMessage(nil, msg); err != nil {
			return h.abort(fmt.Errorf("%w: cannot authenticate noise message 1", ErrAuth))
		}
		if msg, c2s, s2c, err = hs.WriteMessage(nil, nil); err != nil {
			return err
		}
		if err := h.rw.writeRecord(kindNoise, msg); err != nil {
			return fmt.Errorf("sending noise message 2: %w", err)
		}
	}
	send, recv := c2s, s2c
	if !h.client {
		send, recv = s2c, c2s
	}
	h.rw.seal = newCipherState(send.UnsafeKey())
	h.rr.open = newCipherState(recv.UnsafeKey())
	h.dataC2S, h.dataS2C = dataKeys(c2s.UnsafeKey(), s2c.UnsafeKey(), hs.ChannelBinding())
	return nil
}

// hellos exchanges the Hellos, the client's first, encrypted when there is
// a password.
func (h *handshaker) hellos() (Hello, error) {
	ours, err := h.cfg.hello().append(nil)
	if err != nil {
		return Hello{}, err // Validate checked it
	}
	var remote Hello
	if h.client {
		if err := h.rw.writeMessage(kindHello, 0, ours); err != nil {
			return Hello{}, fmt.Errorf("sending hello: %w", err)
		}
		// The server is done after its hello: failures here are ours alone.
		if remote, err = h.readHello(); err != nil {
			return Hello{}, h.closedEarly(err)
		}
	} else {
		if remote, err = h.readHello(); err != nil {
			return Hello{}, h.abort(err)
		}
		if err := h.rw.writeMessage(kindHello, 0, ours); err != nil {
			return Hello{}, fmt.Errorf("sending hello: %w", err)
		}
	}
	remote.Version = h.version
	remote.Encrypted = len(h.cfg.Password) > 0
	return remote, nil
}

func (h *handshaker) readHello() (Hello, error) {
	typ, b, err := h.rr.readMessage(kindHello, nil, MaxHelloSize)
	if err != nil {
		return Hello{}, err
	}
	if typ != 0 {
		return Hello{}, fmt.Errorf("%w: hello of type %d, want 0", ErrProtocol, typ)
	}
	return decodeHello(b)
}

// closedEarly explains an end of stream between records while we wait for
// the peer. A client with a password that gets no alert suspects the
// password: a server that cannot authenticate us just closes.
func (h *handshaker) closedEarly(err error) error {
	if err != io.EOF {
		return err
	}
	hint := ""
	if h.client && len(h.cfg.Password) > 0 {
		hint = " (wrong password?)"
	}
	return fmt.Errorf("peer closed the connection during the handshake%s: %w", hint, io.ErrUnexpectedEOF)
}

// abort sends the peer an alert explaining err, if err is a failure found
// here (not an I/O error nor the peer's own alert), and returns err. It is
// called only when it is our turn to write: the peer is reading.
func (h *handshaker) abort(err error) error {
	if err == io.EOF {
		return h.closedEarly(err)
	}
	a, ok := alertFor(err)
	if !ok {
		return err
	}
	if d := time.Now().Add(alertTimeout); d.Before(h.deadline) {
		h.conn.SetWriteDeadline(d)
	}
	h.rw.writeRecord(kindAlert, a.append(nil)) // plaintext; best effort: we fail anyway
	return err
}
