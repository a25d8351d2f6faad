package sleeve

import (
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/internal/udpbatch"
)

// injectFault makes the sends of e's sleeve fail as f says: it gives the
// only send state a writer with the fault (each Send takes that state).
func injectFault(t *testing.T, e *end, f *udpbatch.Fault) {
	t.Helper()
	st := e.s.getSendState()
	w, err := st.writer(e.s, e.s.sock.Load())
	if err != nil {
		t.Fatal(err)
	}
	w.SetFault(f)
	e.s.putSendState(st)
	if n := e.s.nStates.Load(); n != 1 {
		t.Fatalf("%d send states", n)
	}
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
			f := &udpbatch.Fault{Errno: tt.errno, Plain: tt.plainToo}
			injectFault(t, a, f)
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
			calls := f.Calls
			if err := a.s.Send(out, b.ep); err != nil {
				t.Fatal(err)
			}
			checkReceived(t, b.receiveN(t, superBatch(), out.N), out, a)
			if tt.disabled && (f.Calls != calls+1 || a.s.Stats().GSOErrors != 1) {
				t.Errorf("second Send: %d calls, %d GSO errors", f.Calls-calls, a.s.Stats().GSOErrors)
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
