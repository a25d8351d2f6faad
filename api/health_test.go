package api

import (
	"strings"
	"testing"
	"time"
)

func TestCheckHealth(t *testing.T) {
	up := Connection{Peer: "02:00:00:00:00:02", State: "established"}
	down := Connection{Peer: "02:00:00:00:00:03", State: "retrying"}
	tests := []struct {
		name     string
		s        Status
		problems int
	}{
		{"alone", Status{Name: "02:00:00:00:00:01"}, 0},
		{"one link up", Status{Connections: []Connection{up, down}}, 0},
		{"every link down", Status{Connections: []Connection{down}}, 1},
		{"a peer unreachable", Status{Name: "02:00:00:00:00:01", Peers: []Peer{
			{Name: "02:00:00:00:00:01"}, {Name: "02:00:00:00:00:02", Reachable: true}, {Name: "02:00:00:00:00:03"}}}, 1},
		{"ranges held by an unreachable peer", Status{IPAM: &IPAMStatus{State: "ready", Peers: []IPAMPeer{
			{Name: "x", Addresses: 10}, {Name: "y", Addresses: 10, Removed: true}, {Name: "z", Self: true, Addresses: 5}}}}, 1},
		{"gossip a moment ago", Status{Connections: []Connection{up}, Gossip: Gossip{Last: time.Now(), Age: 1.5, Interval: 2}}, 0},
		{"no gossip for long, links up", Status{Connections: []Connection{up}, Gossip: Gossip{Last: time.Now(), Age: 60, Interval: 2}}, 1},
		{"no gossip for long, no link up", Status{Connections: []Connection{down}, Gossip: Gossip{Last: time.Now(), Age: 60, Interval: 2}}, 1},
		{"no gossip yet", Status{Connections: []Connection{up}, Gossip: Gossip{Interval: 2}}, 0},
		{"quiet peers: no gossip for a summary period and more", Status{Connections: []Connection{up}, Gossip: Gossip{Last: time.Now(), Age: 60, Interval: 30}}, 0},
		{"quiet peers: no gossip for three summary periods", Status{Connections: []Connection{up}, Gossip: Gossip{Last: time.Now(), Age: 95, Interval: 30}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h := CheckHealth(tt.s); len(h.Problems) != tt.problems || h.OK != (tt.problems == 0) {
				t.Errorf("problems %q (ok %v), want %d", h.Problems, h.OK, tt.problems)
			}
		})
	}
}

// The health block shows the clock of the last gossip, and says how long
// it has been silent when that is a problem.
func TestCheckHealthGossip(t *testing.T) {
	last := time.Date(2026, 12, 7, 10, 11, 12, 0, time.Local)
	h := CheckHealth(Status{Connections: []Connection{{State: "established"}}, Gossip: Gossip{Last: last, Age: 0.25, Interval: 2}})
	if !strings.Contains(strings.Join(h.Notes, "\n"), "last gossip 10:11:12 (250ms ago)") {
		t.Errorf("notes %q lack the clock of the last gossip", h.Notes)
	}
	h = CheckHealth(Status{Connections: []Connection{{State: "established"}}, Gossip: Gossip{Last: last, Age: 42, Interval: 2}})
	if len(h.Problems) != 1 || !strings.Contains(h.Problems[0], "no gossip for 42s with links up (1;") {
		t.Errorf("problems %q", h.Problems)
	}
}
