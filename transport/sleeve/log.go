package sleeve

// Logger is the small injected logger of STYLE rule 17. A nil func is
// silent; the zero Logger (Discard) logs nothing.
type Logger struct {
	Verbosef func(format string, args ...any)
	Errorf   func(format string, args ...any)
}

// Discard logs nothing.
var Discard = Logger{}
