package api

import (
	"fmt"
	"strings"
	"time"
)

// gossipSilence is how many gossip intervals without gossip, while links
// are up, make a problem: a live peer sends some every interval (the
// summary of a quiet connection), and a connection silent for longer
// than about two and a half is closed.
const gossipSilence = 3

// ago is a number of seconds as a duration, rounded for people.
func ago(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

// Health is a router's health as judged from its Status: the status
// command's health block, its exit code and the status page all show the
// same one.
type Health struct {
	// OK reports whether Problems is empty.
	OK bool `json:"ok"`
	// Problems make the router unhealthy (`status` exits non-zero).
	Problems []string `json:"problems"`
	// Notes are shown and change nothing.
	Notes []string `json:"notes"`
}

// CheckHealth judges a router's status. Every link down, unreachable
// peers, address ranges held by unreachable peers, and no gossip for
// gossipSilence intervals while links are up are problems; the clock of
// the last gossip, links fallen back to another transport or to the
// userspace path, an allocator still waiting, and the isolation rules
// applied are notes.
// Problems and Notes are never nil, so that they encode as [].
func CheckHealth(s Status) Health {
	h := Health{Problems: []string{}, Notes: []string{}}
	established := 0
	var fallen []string
	for _, c := range s.Connections {
		if c.State == "established" {
			established++
		}
		if c.Fallback != "" {
			who := strings.TrimSpace(c.Nickname + " " + c.Peer)
			if who == "" {
				who = c.Address
			}
			fallen = append(fallen, who+": "+c.Fallback)
		}
	}
	if len(s.Connections) > 0 && established == 0 {
		h.Problems = append(h.Problems, fmt.Sprintf("no link is up (%d connections, none established)", len(s.Connections)))
	}
	var unreachable []string
	for _, p := range s.Peers {
		if p.Name != s.Name && !p.Reachable {
			unreachable = append(unreachable, PeerLabel(p.Name, p.Nickname))
		}
	}
	if len(unreachable) > 0 {
		h.Problems = append(h.Problems, "peers unreachable: "+strings.Join(unreachable, ", "))
	}
	if s.IPAM != nil {
		var owners []string
		for _, p := range s.IPAM.Peers {
			if !p.Self && !p.Removed && !p.Reachable && p.Addresses > 0 {
				owners = append(owners, PeerLabel(p.Name, p.Nickname))
			}
		}
		if len(owners) > 0 {
			h.Problems = append(h.Problems, "address ranges held by unreachable peers: "+strings.Join(owners, ", ")+
				" (if gone for good: weave-switch rmpeer NAME)")
		}
		if s.IPAM.State != "ready" {
			h.Notes = append(h.Notes, "address allocation: "+s.IPAM.State)
		}
	}
	g := s.Gossip
	if !g.Last.IsZero() {
		h.Notes = append(h.Notes, fmt.Sprintf("last gossip %s (%s ago)", g.Last.Format(time.TimeOnly), ago(g.Age)))
		if established > 0 && g.Interval > 0 && g.Age > gossipSilence*g.Interval {
			h.Problems = append(h.Problems, fmt.Sprintf("no gossip for %s with links up (%d; a live peer gossips every %s)",
				ago(g.Age), established, ago(g.Interval)))
		}
	} else if established > 0 {
		h.Notes = append(h.Notes, "no gossip received yet")
	}
	if len(fallen) > 0 {
		h.Notes = append(h.Notes, "links fallen back: "+strings.Join(fallen, "; "))
	}
	if s.Host != nil {
		if s.Host.Isolation {
			h.Notes = append(h.Notes, fmt.Sprintf("isolation on: %d allowed pairs applied", len(s.Host.Allowed)))
		} else {
			h.Notes = append(h.Notes, "isolation off (--no-isolation)")
		}
	}
	for _, l := range s.Fastpath.Links {
		if l.State != "up" && l.Reason != "" {
			h.Notes = append(h.Notes, "fast path to "+l.Peer+" not in use: "+l.Reason)
		}
	}
	h.OK = len(h.Problems) == 0
	return h
}

// PeerLabel is how a peer is named to people: NAME(NICKNAME), or NAME
// when it has no nickname.
func PeerLabel(name, nick string) string {
	if nick == "" {
		return name
	}
	return name + "(" + nick + ")"
}
