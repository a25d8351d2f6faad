package sleeve

import (
	"testing"

	"github.com/weave-switch/weave-switch/internal/leakcheck"
)

func leakCheck(t testing.TB) { leakcheck.Check(t) }
