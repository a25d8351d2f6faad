package dns

import (
	"sync/atomic"

	mdns "github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	qtypeA = iota
	qtypeAAAA
	qtypePTR
	qtypeOther
	numQtypes
)

var qtypeNames = [numQtypes]string{"A", "AAAA", "PTR", "other"}

func qtypeOf(t uint16) int {
	switch t {
	case mdns.TypeA:
		return qtypeA
	case mdns.TypeAAAA:
		return qtypeAAAA
	case mdns.TypePTR:
		return qtypePTR
	}
	return qtypeOther
}

const (
	resAnswer = iota
	resNoData
	resNXDomain
	resForwarded
	resServFail
	resFormErr
	numResults
)

var resultNames = [numResults]string{"answer", "nodata", "nxdomain", "forwarded", "servfail", "formerr"}

const (
	fwdOK = iota
	fwdFailed
	fwdTCPRetry
	numFwd
)

var fwdNames = [numFwd]string{"ok", "failed", "tcp_retry"}

// counters are the server's counts, updated per query without locks.
type counters struct {
	queries  [numQtypes][numResults]atomic.Uint64
	forwards [numFwd]atomic.Uint64
	dropped  atomic.Uint64
}

func (c *counters) query(t, r int) { c.queries[t][r].Add(1) }
func (c *counters) forward(r int)  { c.forwards[r].Add(1) }
func (c *counters) drop()          { c.dropped.Add(1) }

type collector struct {
	s                                   *Service
	queries, forwards, dropped, refused *prometheus.Desc
	entries, local                      *prometheus.Desc
}

// Collector returns the server's and the registry's metrics.
func (s *Service) Collector() prometheus.Collector {
	const ns = "weave_switch_dns"
	return &collector{
		s:        s,
		queries:  prometheus.NewDesc(ns+"_queries_total", "DNS queries answered, by type and result (forwarded: relayed from upstream).", []string{"type", "result"}, nil),
		forwards: prometheus.NewDesc(ns+"_forwards_total", "Exchanges with upstream resolvers, by result (tcp_retry: a truncated UDP answer asked again over TCP).", []string{"result"}, nil),
		dropped:  prometheus.NewDesc(ns+"_dropped_total", "Queries dropped, by reason (forward_busy: the limit of concurrent forwards was reached).", []string{"reason"}, nil),
		refused:  prometheus.NewDesc(ns+"_gossip_refused_total", "Name registers refused from gossip, by reason.", []string{"reason"}, nil),
		entries:  prometheus.NewDesc(ns+"_entries", "Names registered in the mesh (name and address pairs).", nil, nil),
		local:    prometheus.NewDesc(ns+"_local_entries", "Names this router registered.", nil, nil),
	}
}

// Describe implements prometheus.Collector.Describe.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queries, c.forwards, c.dropped, c.refused, c.entries, c.local} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.Collect.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	st := &c.s.stats
	for t := range numQtypes {
		for r := range numResults {
			ch <- prometheus.MustNewConstMetric(c.queries, prometheus.CounterValue, float64(st.queries[t][r].Load()), qtypeNames[t], resultNames[r])
		}
	}
	for r := range numFwd {
		ch <- prometheus.MustNewConstMetric(c.forwards, prometheus.CounterValue, float64(st.forwards[r].Load()), fwdNames[r])
	}
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.dropped.Load()), "forward_busy")
	rs := c.s.reg.Stats()
	for _, x := range []struct {
		n string
		v uint64
	}{{"ahead", rs.Ahead}, {"full", rs.Full}, {"alive", rs.Alive}, {"malformed", rs.Malformed}, {"superseded", rs.Superseded}} {
		ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(x.v), x.n)
	}
	ch <- prometheus.MustNewConstMetric(c.entries, prometheus.GaugeValue, float64(c.s.reg.Len()))
	ch <- prometheus.MustNewConstMetric(c.local, prometheus.GaugeValue, float64(c.s.reg.localLen()))
}
