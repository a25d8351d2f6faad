package integration

import (
	"strings"
	"testing"
)

func TestNewRefusesABadHost(t *testing.T) {
	if _, err := New(Config{DockerHost: "no-scheme"}); err == nil || !strings.Contains(err.Error(), "--docker-host") {
		t.Fatalf("New with a host without a scheme: err = %v, want a --docker-host error", err)
	}
}

func TestStartNeedsItsServicesAndCloseIsIdempotent(t *testing.T) {
	s, err := New(Config{DockerHost: "unix://" + t.TempDir() + "/none.sock"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(Deps{}); err == nil {
		t.Fatal("Start with no services succeeded")
	}
	if got := s.Collectors(); len(got) != 0 {
		t.Fatalf("a service that did not start has %d collectors", len(got))
	}
	if st := s.Status(); st.Connected || st.Network == "" {
		t.Fatalf("status of a service that did not start: %+v", st)
	}
	s.Stop()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
