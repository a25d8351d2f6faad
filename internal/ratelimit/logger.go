package ratelimit

import (
	"context"
	"log/slog"
	"time"
)

// Logger wraps a *slog.Logger with a Limiter, for the lines that anything
// on the data path can trigger. It is safe for concurrent use.
//
// On a path that must not allocate, call Allow first and build the
// arguments only when it says yes:
//
//	if ok, n := l.Allow(slog.LevelDebug); ok {
//		l.Slog().Debug("dropping datagram", "from", from, "suppressed", n)
//	}
//
// Log does both, for paths where boxing the arguments does not matter.
type Logger struct {
	log *slog.Logger
	lim Limiter
}

// NewLogger returns a Logger that lets through at most burst lines per
// interval to l. A nil l logs nothing.
func NewLogger(l *slog.Logger, interval time.Duration, burst int) *Logger {
	return &Logger{log: OrDiscard(l), lim: Limiter{Interval: interval, Burst: burst}}
}

// OrDiscard returns l, or a logger that discards everything if l is nil.
func OrDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}

// Slog returns the wrapped logger, not rate-limited.
func (l *Logger) Slog() *slog.Logger { return l.log }

// Allow reports whether a line at level may be logged now: the logger
// logs that level and the limiter allows one more line. It also returns
// how many lines the limiter suppressed since the last one it allowed. A
// level the logger does not log costs no limiter slot.
func (l *Logger) Allow(level slog.Level) (ok bool, suppressed int) {
	if !l.log.Enabled(context.Background(), level) {
		return false, 0
	}
	return l.lim.Allow()
}

// Log logs msg with args at level if Allow says so, with a "suppressed"
// attribute when lines were suppressed before it.
func (l *Logger) Log(level slog.Level, msg string, args ...any) {
	ok, n := l.Allow(level)
	if !ok {
		return
	}
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	l.log.Log(context.Background(), level, msg, args...)
}
