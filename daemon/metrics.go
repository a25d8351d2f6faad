package daemon

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weave-switch/weave-switch/transport"
)

// reporters are the transports this router runs, for status and
// metrics.
func (d *Daemon) reporters() []transport.Reporter {
	out := []transport.Reporter{d.sleeve}
	for _, t := range d.extra {
		if r, ok := t.(transport.Reporter); ok {
			out = append(out, r)
		}
	}
	return out
}

// metricsHandler serves every service's metrics, each read from its own
// counters at scrape time.
func (d *Daemon) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(d.rt.Collector(), d.mesh.Collector(), transport.Collector(d.reporters()...),
		d.iso.Collector(), d.ipam.Collector(), d.fast.Collector(),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(d.optionalCollectors()...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
