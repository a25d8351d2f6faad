package daemon

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	quictransport "github.com/weave-switch/weave-switch/transport/quic"
	"github.com/weave-switch/weave-switch/transport/wireguard"
)

// collector exposes the router's counters to Prometheus. It reads them at
// scrape time, so the data path pays nothing for metrics.
type collector struct {
	d *Daemon

	peers, conns, macs                    *prometheus.Desc
	txFrames, txBytes, rxFrames, rxBytes  *prometheus.Desc
	txErrors, bridgeFrames, drops, events *prometheus.Desc

	transportDrops, quicGate *prometheus.Desc
}

func newCollector(d *Daemon) *collector {
	const ns = "weave_switch"
	return &collector{
		d:              d,
		peers:          prometheus.NewDesc(ns+"_peers", "Peers in the gossiped topology, by reachability.", []string{"reachable"}, nil),
		conns:          prometheus.NewDesc(ns+"_connections", "Connections and dial targets, by state.", []string{"state"}, nil),
		macs:           prometheus.NewDesc(ns+"_mac_entries", "MAC addresses in the switch table.", nil, nil),
		txFrames:       prometheus.NewDesc(ns+"_link_tx_frames_total", "Frames sent to a peer.", []string{"peer", "transport"}, nil),
		txBytes:        prometheus.NewDesc(ns+"_link_tx_bytes_total", "Frame bytes sent to a peer.", []string{"peer", "transport"}, nil),
		rxFrames:       prometheus.NewDesc(ns+"_link_rx_frames_total", "Frames received from a peer.", []string{"peer", "transport"}, nil),
		rxBytes:        prometheus.NewDesc(ns+"_link_rx_bytes_total", "Frame bytes received from a peer.", []string{"peer", "transport"}, nil),
		txErrors:       prometheus.NewDesc(ns+"_link_tx_errors_total", "Failed sends to a peer.", []string{"peer", "transport"}, nil),
		bridgeFrames:   prometheus.NewDesc(ns+"_bridge_frames_total", "Frames read from and written to the bridge port.", []string{"direction"}, nil),
		drops:          prometheus.NewDesc(ns+"_dropped_frames_total", "Frames dropped, by reason.", []string{"reason"}, nil),
		events:         prometheus.NewDesc(ns+"_mac_events_total", "MAC table events.", []string{"event"}, nil),
		transportDrops: prometheus.NewDesc(ns+"_transport_dropped_total", "Frames and datagrams the WireGuard and QUIC transports dropped, by transport and reason (the sleeve's are in status).", []string{"transport", "reason"}, nil),
		quicGate:       prometheus.NewDesc(ns+"_quic_receive_gate_total", "QUIC receive gate events: waits (quic-go's socket reader held back so that its 128-datagram queue does not overflow) and resets (a drifted count halved after a stall).", []string{"event"}, nil),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.peers, c.conns, c.macs, c.txFrames, c.txBytes, c.rxFrames, c.rxBytes,
		c.txErrors, c.bridgeFrames, c.drops, c.events, c.transportDrops, c.quicGate} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.d.Status()
	for tr, reasons := range transportDrops(s.LinkTransportStats) {
		for reason, v := range reasons {
			ch <- prometheus.MustNewConstMetric(c.transportDrops, prometheus.CounterValue, float64(v), tr, reason)
		}
	}
	if q, ok := s.LinkTransportStats["quic"].(quictransport.Stats); ok {
		ch <- prometheus.MustNewConstMetric(c.quicGate, prometheus.CounterValue, float64(q.GateWaits), "wait")
		ch <- prometheus.MustNewConstMetric(c.quicGate, prometheus.CounterValue, float64(q.GateResets), "reset")
	}
	states := map[string]int{}
	for _, p := range s.Connections {
		states[p.State]++
		name := p.Peer
		if name == "" {
			continue
		}
		tr := p.Transport
		counter := func(d *prometheus.Desc, v uint64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name, tr)
		}
		counter(c.txFrames, p.TxFrames)
		counter(c.txBytes, p.TxBytes)
		counter(c.rxFrames, p.RxFrames)
		counter(c.rxBytes, p.RxBytes)
		counter(c.txErrors, p.TxErrors)
	}
	for _, st := range []string{"connecting", "retrying", "failed", "refused", "pending", "established"} {
		ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(states[st]), st)
	}
	reach := map[bool]int{}
	for _, p := range s.Peers {
		reach[p.Reachable]++
	}
	ch <- prometheus.MustNewConstMetric(c.peers, prometheus.GaugeValue, float64(reach[true]), "true")
	ch <- prometheus.MustNewConstMetric(c.peers, prometheus.GaugeValue, float64(reach[false]), "false")
	ch <- prometheus.MustNewConstMetric(c.macs, prometheus.GaugeValue, float64(s.Switch.Entries))
	ch <- prometheus.MustNewConstMetric(c.bridgeFrames, prometheus.CounterValue, float64(s.Data.FromBridge), "from_bridge")
	ch <- prometheus.MustNewConstMetric(c.bridgeFrames, prometheus.CounterValue, float64(s.Data.ToBridge), "to_bridge")
	for reason, v := range s.Switch.Drops {
		ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(v), reason)
	}
	ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(s.Data.NoPeer), "no_peer")
	ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(s.Data.SendErrors), "send_error")
	ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(s.Data.NoRoute), "no_route")
	ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(s.Data.Unknown), "unknown_sender")
	ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(s.Data.Offload), "needs_offload")
	ch <- prometheus.MustNewConstMetric(c.drops, prometheus.CounterValue, float64(s.Data.RxQueue), "rx_queue_full")
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(s.Switch.Learned), "learned")
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(s.Switch.Moves), "moved")
	ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(s.Switch.Evictions), "evicted")
}

// transportDrops picks the drop counters out of the link transports'
// stats, by transport and reason.
func transportDrops(stats map[string]any) map[string]map[string]uint64 {
	out := map[string]map[string]uint64{}
	for name, st := range stats {
		switch v := st.(type) {
		case quictransport.Stats:
			out[name] = map[string]uint64{
				"no_peer": v.DropNoPeer, "no_connection": v.DropNoConn, "too_large": v.DropTooLarge,
				"send_error": v.DropSendError, "malformed": v.DropMalformed, "reassembly": v.DropReassembly,
				"queue_full": v.DropQueueFull, "too_big": v.DropTooBig,
				"quic_receive_queue": v.DropQUICReceive, "quic_send": v.DropQUICSend,
			}
		case wireguard.StatsSnapshot:
			m := map[string]uint64{
				"tx_queue_full": v.TxDropped, "tx_too_big": v.TxTooBig, "rx_queue_full": v.RxDropped,
				"malformed": v.RxMalformed, "rx_too_big": v.RxTooBig,
			}
			for reason, n := range v.FrameDrops {
				m["reassembly_"+reason] = n
			}
			out[name] = m
		}
	}
	return out
}

// metricsHandler serves every service's metrics, read at scrape time.
func (d *Daemon) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newCollector(d), d.ipam.Collector(), d.fast.Collector(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
