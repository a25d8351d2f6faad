package wireguard

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"golang.zx2c4.com/wireguard/device"

	"github.com/weave-switch/weave-switch/internal/ratelimit"
)

// deviceLogger feeds wireguard-go's log lines into l, marked
// origin=wireguard-go: its verbose lines at Debug, its errors at Error.
// Both are rate-limited, since the device logs some lines per packet
// (a packet from an unknown source, a failed decryption).
func deviceLogger(l *slog.Logger) *device.Logger {
	l = ratelimit.OrDiscard(l).With("origin", "wireguard-go")
	verbose := ratelimit.NewLogger(l, time.Second, 100)
	errs := ratelimit.NewLogger(l, time.Second, 10)
	logf := func(rl *ratelimit.Logger, level slog.Level) func(string, ...any) {
		return func(format string, args ...any) {
			ok, n := rl.Allow(level)
			if !ok {
				return
			}
			if n > 0 {
				l.Log(context.Background(), level, fmt.Sprintf(format, args...), "suppressed", n)
				return
			}
			l.Log(context.Background(), level, fmt.Sprintf(format, args...))
		}
	}
	return &device.Logger{Verbosef: logf(verbose, slog.LevelDebug), Errorf: logf(errs, slog.LevelError)}
}
