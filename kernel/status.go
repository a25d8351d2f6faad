package kernel

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weave-switch/weave-switch/api"
	"github.com/weave-switch/weave-switch/frame"
)

// Status is the fast path's part of the API status.
func (s *Service) Status() api.Fastpath {
	ctl := s.ctl.Load()
	if ctl == nil {
		return api.Fastpath{Backend: ModeUserspace, Reason: "not started"}
	}
	dp := ctl.Datapath()
	st := dp.Stats()
	fallbacks, recoveries, syncErrors := ctl.Counters()
	out := api.Fastpath{
		Backend: s.choice.Backend, Reason: s.choice.Reason, Port: int(s.cfg.Env.Port), VNI: s.cfg.Env.VNI,
		HeartbeatInterval: DefaultHeartbeatInterval.Seconds(), DownAfter: ctl.DownAfter().Seconds(),
		Entries: st.Entries, Installed: st.Installed, Removed: st.Removed, Misses: st.Misses,
		Errors: st.Errors + syncErrors, Fallbacks: fallbacks, Recoveries: recoveries,
	}
	if s.fence != nil {
		if f, ok := s.fence.(*NFTFence); ok {
			out.Fence = "inet " + f.Table
		}
		n, err := s.fence.Dropped()
		if err != nil {
			s.log.Debug("fast path: fence counter", "err", err)
		}
		out.FenceDrops = n
	}
	if s.unencrypted() && s.choice.Backend != ModeUserspace {
		out.Unencrypted = true
		out.UnencryptedReason = "--fastpath-unencrypted: the mesh has a password, but the kernel backend carries its links unencrypted"
	}
	if v, ok := dp.(interface{ Device() string }); ok {
		out.Device = v.Device()
	}
	acks := map[frame.PeerName]LinkInput{}
	if s.src != nil && s.choice.Backend != ModeUserspace {
		for _, in := range s.src.FastLinks() {
			acks[in.Peer] = in
		}
	}
	for _, l := range ctl.Links() {
		fl := api.FastLink{Peer: l.Peer.String(), State: l.State.String(), Reason: l.Reason, Since: l.Since,
			Fallbacks: l.Fallbacks, Recoveries: l.Recoveries}
		if l.Addr.IsValid() {
			fl.Addr = l.Addr.String()
		}
		if in, ok := acks[l.Peer]; ok && !in.LastAck.IsZero() {
			fl.LastAck = in.LastAck
			fl.RTT = in.RTT.Seconds()
		}
		out.Links = append(out.Links, fl)
	}
	for _, e := range dp.Entries() {
		fe := api.FastEntry{Kind: e.Kind, MAC: e.MAC.String(), Peer: e.Peer.String(), Detail: e.Detail, Used: e.Used}
		if e.Addr.IsValid() {
			fe.Addr = e.Addr.String()
		}
		if e.Peer == s.cfg.Env.Self {
			fe.Peer = "self"
		}
		out.Table = append(out.Table, fe)
	}
	return out
}

// collector exposes the fast path to Prometheus, read at scrape time.
type collector struct {
	s                          *Service
	entries, events, linkState *prometheus.Desc
	fenceDrops                 *prometheus.Desc
}

// Collector returns the fast path's metrics.
func (s *Service) Collector() prometheus.Collector {
	const ns = "weave_switch_fastpath"
	return &collector{
		s:          s,
		entries:    prometheus.NewDesc(ns+"_entries", "MAC entries (vxlan) or flows (ovs) installed in the kernel fast path.", []string{"backend"}, nil),
		events:     prometheus.NewDesc(ns+"_events_total", "Kernel fast path events: entries or flows installed and removed, misses, errors, link fallbacks to userspace and recoveries.", []string{"backend", "event"}, nil),
		fenceDrops: prometheus.NewDesc(ns+"_fence_dropped_total", "Datagrams to the fast path's UDP port dropped because they came from no peer's underlay address.", []string{"backend"}, nil),
		linkState:  prometheus.NewDesc(ns+"_links", "Links by fast-path state (up: on the fast path; probe: userspace, heartbeats probing; off: userspace).", []string{"backend", "state"}, nil),
	}
}

// Describe implements prometheus.Collector.Describe.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.entries
	ch <- c.events
	ch <- c.linkState
	ch <- c.fenceDrops
}

// Collect implements prometheus.Collector.Collect.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	backend := c.s.choice.Backend
	var st Stats
	var fallbacks, recoveries, syncErrors uint64
	states := map[string]int{LinkOff.String(): 0, LinkProbe.String(): 0, LinkUp.String(): 0}
	if ctl := c.s.ctl.Load(); ctl != nil {
		st = ctl.Datapath().Stats()
		fallbacks, recoveries, syncErrors = ctl.Counters()
		for _, l := range ctl.Links() {
			states[l.State.String()]++
		}
	}
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(st.Entries), backend)
	for ev, v := range map[string]uint64{"installed": st.Installed, "removed": st.Removed, "miss": st.Misses,
		"error": st.Errors + syncErrors, "fallback": fallbacks, "recovery": recoveries} {
		ch <- prometheus.MustNewConstMetric(c.events, prometheus.CounterValue, float64(v), backend, ev)
	}
	if f := c.s.fence; f != nil {
		if n, err := f.Dropped(); err != nil {
			ch <- prometheus.NewInvalidMetric(c.fenceDrops, err)
		} else {
			ch <- prometheus.MustNewConstMetric(c.fenceDrops, prometheus.CounterValue, float64(n), backend)
		}
	}
	for state, n := range states {
		ch <- prometheus.MustNewConstMetric(c.linkState, prometheus.GaugeValue, float64(n), backend, state)
	}
}
