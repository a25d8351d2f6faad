package handshake

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
)

// Conn is an established control connection: a stream of typed messages,
// encrypted and authenticated when the routers share a password.
//
// WriteMsg may be called from several goroutines at once; ReadMsg from one
// goroutine at a time (a reader loop). Remote, DataKeys and Close are safe
// at any time.
type Conn struct {
	conn    net.Conn
	remote  Hello
	dataOK  bool
	dataKey struct{ send, recv [32]byte }
	closed  atomic.Bool

	rd struct { // owned by the single reader
		rr  recordReader
		err error // sticky
	}
	wr struct {
		sync.Mutex
		rw  recordWriter
		err error // sticky
	}
	closeOnce sync.Once
	closeErr  error
}

func (h *handshaker) newConn(remote Hello) *Conn {
	c := &Conn{conn: h.conn, remote: remote}
	c.rd.rr = h.rr
	c.rd.rr.alerts = false
	c.wr.rw = h.rw
	if len(h.cfg.Password) > 0 {
		c.dataOK = true
		c.dataKey.send, c.dataKey.recv = h.dataC2S, h.dataS2C
		if !h.client {
			c.dataKey.send, c.dataKey.recv = h.dataS2C, h.dataC2S
		}
	}
	return c
}

// Remote returns what the peer announced in the handshake, with the
// negotiated Version and whether the connection is Encrypted. The Caps map
// is shared: do not modify it.
func (c *Conn) Remote() Hello { return c.remote }

// DataKeys returns this connection's session keys for the data link (the
// sleeve AEAD): send encrypts what this router sends to the peer, recv
// decrypts what it receives; the peer's send is our recv. They are derived
// from the handshake, so they are fresh for every connection, forward
// secret, and distinct per direction. ok is false on an unencrypted
// connection (no password), and the keys are zero.
func (c *Conn) DataKeys() (send, recv [32]byte, ok bool) {
	return c.dataKey.send, c.dataKey.recv, c.dataOK
}

// NetConn returns the underlying connection, for its addresses and
// deadlines (SetReadDeadline for a heartbeat timeout). Reading or writing
// it directly corrupts the stream.
func (c *Conn) NetConn() net.Conn { return c.conn }

// WriteMsg sends one message of type typ. payload is at most
// MaxMessageSize bytes (else ErrTooBig, and nothing is sent); WriteMsg
// does not keep it. It is safe for concurrent use: messages are sent
// whole, one after the other. It blocks while the peer does not read;
// Close (or a write deadline on NetConn) unblocks it. After a write error
// the Conn is unusable and every later WriteMsg returns that error.
func (c *Conn) WriteMsg(typ uint8, payload []byte) error {
	if len(payload) > MaxMessageSize {
		return fmt.Errorf("%w: %d bytes, max %d", ErrTooBig, len(payload), MaxMessageSize)
	}
	c.wr.Lock()
	defer c.wr.Unlock()
	if c.wr.err == nil && c.closed.Load() {
		c.wr.err = fmt.Errorf("write: %w", net.ErrClosed)
	}
	if c.wr.err != nil {
		return c.wr.err
	}
	if err := c.wr.rw.writeMessage(kindMsg, typ, payload); err != nil {
		c.wr.err = c.ioError("write", err)
		return c.wr.err
	}
	return nil
}

// ReadMsg reads the next message. A message that fits in one record (up to
// 65518 bytes of payload) is returned in the Conn's own buffer, a bigger
// one in buf (or in a new slice if buf is too small): either way payload
// is valid until the next ReadMsg. It returns io.EOF when the peer closed
// the connection between messages, ErrTooBig (before reading or
// allocating the body) for a message over MaxMessageSize, ErrAuth for an
// encrypted record that was modified, replayed, reordered or dropped,
// ErrProtocol for garbage, and net.ErrClosed after Close. After an error
// the Conn is unusable (the stream is out of sync) and every later
// ReadMsg returns the same error. Only one goroutine may call ReadMsg at a
// time.
func (c *Conn) ReadMsg(buf []byte) (typ uint8, payload []byte, err error) {
	if c.rd.err == nil && c.closed.Load() {
		c.rd.err = fmt.Errorf("read: %w", net.ErrClosed)
	}
	if c.rd.err != nil {
		return 0, nil, c.rd.err
	}
	typ, payload, err = c.rd.rr.readMessage(kindMsg, buf, MaxMessageSize)
	if err != nil {
		c.rd.err = c.ioError("read", err)
		return 0, nil, c.rd.err
	}
	return typ, payload, nil
}

// ioError maps I/O errors after Close to net.ErrClosed.
func (c *Conn) ioError(op string, err error) error {
	if c.closed.Load() && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("%s: %w (%v)", op, net.ErrClosed, err)
	}
	return err
}

// Close closes the connection, unblocking ReadMsg and WriteMsg, which then
// return errors wrapping net.ErrClosed. It is idempotent: later calls
// return the first call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.closeErr = c.conn.Close()
	})
	return c.closeErr
}
