package api

import "testing"

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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h := CheckHealth(tt.s); len(h.Problems) != tt.problems || h.OK != (tt.problems == 0) {
				t.Errorf("problems %q (ok %v), want %d", h.Problems, h.OK, tt.problems)
			}
		})
	}
}
