package mesh

import (
	"context"
	"slices"
	"time"

	"github.com/weave-switch/weave-switch/frame"
	"github.com/weave-switch/weave-switch/gossip/topology"
)

// ConnStatus is one control connection or dial target.
type ConnStatus struct {
	Peer      string `json:"peer,omitempty"`
	Nickname  string `json:"nickname,omitempty"`
	Direction string `json:"direction"` // "outbound" or "inbound"
	Address   string `json:"address"`
	State     string `json:"state"` // "connecting", "retrying", "backoff" (a discovered address not reachable from here), "failed", "refused", "pending", "established"
	Reason    string `json:"reason,omitempty"`
	Transport string `json:"transport,omitempty"`
	Asked     string `json:"transport_asked,omitempty"`
	Fallback  string `json:"transport_fallback,omitempty"` // why Transport is not Asked
	// Encrypted reports whether the link's data path is encrypted with
	// keys that came over an authenticated handshake (a mesh with a
	// secret). A WireGuard or QUIC link of a mesh without a secret
	// encrypts, but its keys are unauthenticated, so it is false.
	Encrypted bool `json:"encrypted"`
	// Cipher is the AEAD of an encrypted sleeve link (aes256-gcm or
	// chacha20-poly1305), chosen in the handshake; empty otherwise.
	Cipher  string        `json:"cipher,omitempty"`
	MTU     int           `json:"mtu,omitempty"`      // the overlay's
	PathMTU int           `json:"path_mtu,omitempty"` // the underlay path's, as the link's transport knows it
	RTT     time.Duration `json:"rtt_ns,omitempty"`
	// Endpoint is the underlay address:port the link's data path uses
	// now: the one registered from the control connection, or the one
	// the peer proved (its NAT's mapping).
	Endpoint string `json:"endpoint,omitempty"`
	// Path is "direct" for an established link ("punched" if its
	// connection was punched through NAT), and "relayed via PEER" for a
	// dial target whose peer the routes reach through PEER.
	Path    string    `json:"path,omitempty"`
	Since   time.Time `json:"since,omitzero"`
	NextTry time.Time `json:"next_try,omitzero"`
}

// PeerStatus is one peer of the topology.
type PeerStatus struct {
	Name        string `json:"name"`
	Nickname    string `json:"nickname"`
	UID         uint64 `json:"uid"`
	Version     uint64 `json:"version"`
	Connections int    `json:"connections"`
	Established int    `json:"established"`
	Reachable   bool   `json:"reachable"`
	NextHop     string `json:"next_hop,omitempty"`
	// Links are the peers it has established links to, as gossiped.
	Links []string `json:"links,omitempty"`
	Relay bool     `json:"relay,omitempty"` // the peer offers to relay (--relay)
}

// Status is the control plane's state.
type Status struct {
	Encryption string `json:"encryption"` // "none: ..." or "encrypted (...)"
	// HandshakesRefused counts the inbound control connections refused,
	// by reason (RefusalReasons, every one present).
	HandshakesRefused map[string]uint64 `json:"handshakes_refused"`
	// GossipDropped counts the topology entries merges refused, by
	// reason (invalid, ahead: stamped too far in the future, malformed).
	GossipDropped map[string]uint64 `json:"gossip_dropped"`
	Connections   []ConnStatus      `json:"connections"`
	Peers         []PeerStatus      `json:"peers"`
	// Punching counts the calls to punch waiting for an answer and the
	// punches under way; Punches counts those ended, by PunchResults
	// (every one present).
	Punching int               `json:"punching"`
	Punches  map[string]uint64 `json:"punches"`
	// LastGossip is when gossip (topology entries, summary, digest or a
	// channel's state) last arrived from a peer; zero if never.
	LastGossip time.Time `json:"last_gossip,omitzero"`
	// GossipEvery is the longest a connected peer leaves us without
	// gossip while its connection is quiet (its quietPace's summary
	// period: 30 s, or 6 s for a peer that does not announce CapQuiet);
	// GossipInterval without connections.
	GossipEvery time.Duration `json:"gossip_every"`
}

// Status returns the latest snapshot (refreshed by the actor every 2 s and
// on every routing change), or a fresh one if ctx allows the wait.
func (m *Mesh) Status(ctx context.Context) Status {
	if err := m.call(ctx, m.publishStatus); err != nil {
		m.status.Lock()
		defer m.status.Unlock()
		return m.status.snap
	}
	m.status.Lock()
	defer m.status.Unlock()
	return m.status.snap
}

func (m *Mesh) publishStatus() {
	secret := len(m.cfg.Password) > 0
	s := Status{Encryption: "none: no secret (--insecure), nothing is authenticated", HandshakesRefused: m.admission.refusals(), GossipDropped: map[string]uint64{}, LastGossip: m.lastGossip,
		Punching: m.punchBusy(), Punches: map[string]uint64{}}
	for _, r := range PunchResults {
		s.Punches[r] = m.punchResults[r]
	}
	for r, n := range m.topo.Stats().Dropped {
		s.GossipDropped[topology.DropReason(r).String()] = n
	}
	if secret {
		s.Encryption = "encrypted (control: Noise NNpsk0; data: AES-256-GCM or ChaCha20-Poly1305 per link, see each connection)"
	}
	s.GossipEvery = GossipInterval
	seen := map[string]bool{}
	for _, c := range m.conns {
		s.GossipEvery = max(s.GossipEvery, time.Duration(c.pace.summary)*GossipInterval)
		cs := ConnStatus{
			Peer: c.hello.Name.String(), Nickname: c.hello.Nickname, Direction: "inbound", Address: c.addr,
			State: "pending", Reason: c.failure, Transport: c.link.Name(), Asked: c.asked, Fallback: c.linkNote,
			Encrypted: c.dataEncrypted && secret,
			MTU:       m.cfg.MTU, RTT: c.rtt, Since: c.since,
		}
		if pm, ok := c.link.(PathMTUer); ok && c.established {
			cs.PathMTU = pm.PathMTU(c.hello.Name)
		}
		if ci, ok := c.link.(Cipherer); ok && cs.Encrypted {
			cs.Cipher = ci.CipherName(c.hello.Name)
		}
		ep := c.endpoint
		if e, ok := c.link.(Endpointer); ok {
			if got := e.Endpoint(c.hello.Name); got.IsValid() {
				ep = got
			}
		}
		if ep.IsValid() {
			cs.Endpoint = ep.String()
		}
		if c.outbound {
			cs.Direction = "outbound"
			if c.target != "" {
				cs.Address = c.target
				seen[c.target] = true
			}
		}
		if c.established {
			cs.State, cs.Reason, cs.Path = "established", "", "direct"
			if c.punched {
				cs.Path = "punched"
			}
		}
		s.Connections = append(s.Connections, cs)
	}
	noted := map[frame.PeerName]bool{}
	for addr, t := range m.targets {
		if seen[addr] || t.state == "connected" || t.learnedAs != frame.UnknownPeer && m.conns[t.learnedAs] != nil {
			continue
		}
		cs := ConnStatus{Direction: "outbound", Address: addr, State: t.state, Reason: t.reason, NextTry: t.nextTry}
		if p := m.punches[t.learnedAs]; p != nil && t.learnedAs != frame.UnknownPeer {
			noted[t.learnedAs] = true
			if n := p.status(); n != "" {
				cs.Reason += "; " + n
			}
		}
		if m.applied != nil && t.learnedAs != frame.UnknownPeer {
			if hop, ok := m.applied.NextHop(t.learnedAs); ok && hop != t.learnedAs {
				cs.Path = "relayed via " + hop.String()
			}
		}
		s.Connections = append(s.Connections, cs)
	}
	// Peers punched to without a dial target of their own (two behind
	// one NAT address, seen by others at the same address).
	for name, p := range m.punches {
		if noted[name] || m.conns[name] != nil || p.status() == "" {
			continue
		}
		cs := ConnStatus{Peer: name.String(), Direction: "outbound", State: "punching", Reason: p.status(), NextTry: p.nextCall}
		if !p.punching && p.calling.IsZero() {
			cs.State = "backoff"
		}
		if m.applied != nil {
			if hop, ok := m.applied.NextHop(name); ok && hop != name {
				cs.Path = "relayed via " + hop.String()
			}
		}
		s.Connections = append(s.Connections, cs)
	}
	s.Connections = append(s.Connections, m.refused...)
	slices.SortFunc(s.Connections, func(a, b ConnStatus) int {
		if a.Address < b.Address {
			return -1
		}
		if a.Address > b.Address {
			return 1
		}
		return 0
	})
	// Status shows the routes the data path uses, not newer ones still
	// waiting for the coalescing timer.
	routes := m.applied
	if routes == nil {
		routes = topology.Compute(m.cfg.Self, nil)
	}
	for _, e := range m.topo.Entries() {
		ps := PeerStatus{Name: e.Name.String(), Nickname: e.Nickname, UID: e.UID, Version: e.Version,
			Connections: len(e.Conns), Reachable: e.Name == m.cfg.Self || routes.Reachable(e.Name), Relay: e.Caps[topology.CapRelay] != ""}
		for _, c := range e.Conns {
			if c.Established {
				ps.Established++
				ps.Links = append(ps.Links, c.Peer.String())
			}
		}
		if hop, ok := routes.NextHop(e.Name); ok && e.Name != m.cfg.Self {
			ps.NextHop = hop.String()
		}
		s.Peers = append(s.Peers, ps)
	}
	m.status.Lock()
	m.status.snap = s
	m.status.Unlock()
}

// Nicknames are the nicknames of the peers in the topology, by name,
// from the latest status snapshot.
func (m *Mesh) Nicknames() map[frame.PeerName]string {
	m.status.Lock()
	peers := m.status.snap.Peers
	m.status.Unlock()
	out := make(map[frame.PeerName]string, len(peers))
	for _, p := range peers {
		if n, err := frame.ParsePeerName(p.Name); err == nil {
			out[n] = p.Nickname
		}
	}
	return out
}
