package mesh

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// connStates are the states a connection or dial target can be in, each
// reported even when no connection is in it.
var connStates = []string{"connecting", "retrying", "backoff", "failed", "refused", "pending", "established"}

// collector exposes the control plane to Prometheus from the mesh's
// latest status snapshot (refreshed every 2 s), without waiting for it.
type collector struct {
	m                  *Mesh
	peers, conns, pmtu *prometheus.Desc
	refused, encrypted *prometheus.Desc
	gossipDropped      *prometheus.Desc
	msgs, bytes        *prometheus.Desc
	punching, punches  *prometheus.Desc
}

// Collector returns the mesh's metrics.
func (m *Mesh) Collector() prometheus.Collector {
	const ns = "weave_switch"
	return &collector{
		m:             m,
		peers:         prometheus.NewDesc(ns+"_peers", "Peers in the gossiped topology, by reachability.", []string{"reachable"}, nil),
		conns:         prometheus.NewDesc(ns+"_connections", "Connections and dial targets, by state.", []string{"state"}, nil),
		pmtu:          prometheus.NewDesc(ns+"_link_path_mtu_bytes", "The underlay path MTU of each established link, as its transport knows it.", []string{"peer", "transport"}, nil),
		gossipDropped: prometheus.NewDesc(ns+"_gossip_dropped_total", "Topology entries merges refused, by reason (ahead: stamped too far in the future).", []string{"reason"}, nil),
		refused:       prometheus.NewDesc(ns+"_handshakes_refused_total", "Inbound control connections refused, by reason: rate, source_busy, busy (before the handshake), timeout, handshake (by it), name_claim (a known peer's name from another address).", []string{"reason"}, nil),
		msgs:          prometheus.NewDesc(ns+"_control_messages_total", "Control-plane messages over all connections, by direction (sent, received) and type (entries, summary, digest, ping, pong, channel, other).", []string{"direction", "type"}, nil),
		bytes:         prometheus.NewDesc(ns+"_control_payload_bytes_total", "Payload bytes of those messages (without the encrypted records' framing).", []string{"direction", "type"}, nil),
		punching:      prometheus.NewDesc(ns+"_punching", "Calls to punch through NAT waiting for the peer's answer, and punches under way.", nil, nil),
		punches:       prometheus.NewDesc(ns+"_punches_total", "Calls and punches through NAT ended, by result: connected, overtaken (connected another way meanwhile), failed (no candidate connected), unanswered (the call timed out).", []string{"result"}, nil),
		encrypted:     prometheus.NewDesc(ns+"_link_encrypted", "Whether each established link's data path is encrypted with keys from an authenticated handshake (1) or not (0).", []string{"peer", "transport"}, nil),
	}
}

// Describe implements prometheus.Collector.Describe.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.peers, c.conns, c.pmtu, c.refused, c.encrypted, c.gossipDropped, c.msgs, c.bytes, c.punching, c.punches} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.Collect.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the latest snapshot
	s := c.m.Status(ctx)
	states := map[string]int{}
	for _, k := range s.Connections {
		states[k.State]++
		if k.State != "established" || k.Peer == "" {
			continue
		}
		if k.PathMTU > 0 {
			ch <- prometheus.MustNewConstMetric(c.pmtu, prometheus.GaugeValue, float64(k.PathMTU), k.Peer, k.Transport)
		}
		enc := 0.0
		if k.Encrypted {
			enc = 1
		}
		ch <- prometheus.MustNewConstMetric(c.encrypted, prometheus.GaugeValue, enc, k.Peer, k.Transport)
	}
	for _, st := range connStates {
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(states[st]), st)
	}
	reach := map[bool]int{}
	for _, p := range s.Peers {
		reach[p.Reachable]++
	}
	ch <- prometheus.MustNewConstMetric(c.peers, prometheus.GaugeValue, float64(reach[true]), "true")
	ch <- prometheus.MustNewConstMetric(c.peers, prometheus.GaugeValue, float64(reach[false]), "false")
	for _, r := range RefusalReasons {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(s.HandshakesRefused[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(c.punching, prometheus.GaugeValue, float64(s.Punching))
	for _, r := range PunchResults {
		ch <- prometheus.MustNewConstMetric(c.punches, prometheus.CounterValue, float64(s.Punches[r]), r)
	}
	for r, n := range s.GossipDropped {
		ch <- prometheus.MustNewConstMetric(c.gossipDropped, prometheus.CounterValue, float64(n), r)
	}
	t := &c.m.traffic
	for i, name := range msgNames {
		ch <- prometheus.MustNewConstMetric(c.msgs, prometheus.CounterValue, float64(t.sentMsgs[i].Load()), "sent", name)
		ch <- prometheus.MustNewConstMetric(c.msgs, prometheus.CounterValue, float64(t.recvMsgs[i].Load()), "received", name)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(t.sentBytes[i].Load()), "sent", name)
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(t.recvBytes[i].Load()), "received", name)
	}
}
