package sleeve

import (
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/net/ipv4"

	"github.com/weave-switch/weave-switch/frame"
)

// gsoFailWriter is a batchWriter that refuses UDP_SEGMENT messages with
// errno, the way sendmmsg does: the messages before the first GSO one
// are sent, then the call fails. With plainToo it refuses plain messages
// too.
type gsoFailWriter struct {
	inner    batchWriter
	errno    syscall.Errno
	plainToo bool
	calls    int
}

func (w *gsoFailWriter) WriteBatch(ms []ipv4.Message, flags int) (int, error) {
	w.calls++
	k := 0
	for k < len(ms) && ms[k].OOB == nil && !w.plainToo {
		k++
	}
	if k > 0 {
		return w.inner.WriteBatch(ms[:k], flags)
	}
	return -1, &net.OpError{Op: "write", Net: "udp", Err: os.NewSyscallError("sendmmsg", w.errno)}
}

func TestGSOFallback(t *testing.T) {
	tests := []struct {
		name     string
		errno    syscall.Errno
		plainToo bool
		disabled bool // GSO turned off afterwards
		fails    bool // Send fails
	}{
		{"EIO turns GSO off", syscall.EIO, false, true, false},
		{"EINVAL turns GSO off", syscall.EINVAL, false, true, false},
		{"EMSGSIZE falls back once", syscall.EMSGSIZE, false, false, false},
		{"EINVAL for plain sends too: an error, GSO kept", syscall.EINVAL, true, false, true},
		{"EPERM: an error", syscall.EPERM, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &logRecorder{}
			a := openSleeve(t, Config{Self: peerA, Logger: rec.logger()})
			b := openSleeve(t, Config{Self: peerB})
			if !a.s.Stats().GSO {
				t.Skip("no UDP GSO on this kernel")
			}
			sk := a.s.sock.Load()
			w := &gsoFailWriter{inner: sk.bw, errno: tt.errno, plainToo: tt.plainToo}
			sk.bw = w
			// A small frame (a plain message) first, then GSO messages.
			out := withGSO(makeBatch([]int{60, frame.MaxSuperFrameSize, 1000, 30000}))
			err := a.s.Send(out, b.ep)
			s := a.s.Stats()
			if s.GSO == tt.disabled {
				t.Errorf("Stats.GSO = %v after the failure", s.GSO)
			}
			if tt.fails {
				if err == nil || !errors.Is(err, tt.errno) {
					t.Fatalf("Send: %v, want %v", err, tt.errno)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			checkReceived(t, b.receiveN(t, superBatch(), out.N), out, a)
			if s.GSOErrors != 1 || s.GSOSends != 0 {
				t.Errorf("GSOErrors %d, GSOSends %d; want 1, 0", s.GSOErrors, s.GSOSends)
			}
			// A second Send: no GSO attempt once it is off.
			calls := w.calls
			if err := a.s.Send(out, b.ep); err != nil {
				t.Fatal(err)
			}
			checkReceived(t, b.receiveN(t, superBatch(), out.N), out, a)
			if tt.disabled && (w.calls != calls+1 || a.s.Stats().GSOErrors != 1) {
				t.Errorf("second Send: %d calls, %d GSO errors", w.calls-calls, a.s.Stats().GSOErrors)
			}
			// Turning GSO off is logged once; a one-off fallback each time
			// (rate-limited).
			wantLogs := 2
			if tt.disabled {
				wantLogs = 1
			}
			if logs := rec.lines(); len(logs) != wantLogs || !strings.Contains(logs[0], "GSO") {
				t.Errorf("logs: %q", logs)
			}
		})
	}
}
