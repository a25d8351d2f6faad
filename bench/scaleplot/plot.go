package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/weave-switch/weave-switch/bench/internal/svgchart"
)

// point is one bench-scale run: the routers and the means per router.
type point struct {
	routers  int
	rssMiB   float64 // resident memory, the binary's pages included
	anonMiB  float64 // anonymous resident memory
	cpuPct   float64 // idle CPU, % of a core
	mesh     string
	revision string
}

type series struct {
	label  string
	points []point
}

// parse reads a bench-scale JSON file (the fields the chart uses).
func parse(b []byte) (point, error) {
	var raw struct {
		Routers   int    `json:"routers"`
		Mesh      string `json:"mesh"`
		Revision  string `json:"revision"`
		PerRouter []struct {
			RSS  float64 `json:"rss_kib"`
			Anon float64 `json:"rss_anon_kib"`
			CPU  float64 `json:"idle_cpu_pct"`
		} `json:"per_router"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return point{}, err
	}
	if raw.Routers <= 0 || len(raw.PerRouter) == 0 {
		return point{}, errors.New("no routers")
	}
	p := point{routers: raw.Routers, mesh: raw.Mesh, revision: raw.Revision}
	for _, r := range raw.PerRouter {
		for _, v := range []float64{r.RSS, r.Anon, r.CPU} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				return point{}, fmt.Errorf("router with RSS %v, anonymous RSS %v, CPU %v", r.RSS, r.Anon, r.CPU)
			}
		}
		p.rssMiB += r.RSS / 1024
		p.anonMiB += r.Anon / 1024
		p.cpuPct += r.CPU
	}
	p.rssMiB /= float64(len(raw.PerRouter))
	p.anonMiB /= float64(len(raw.PerRouter))
	p.cpuPct /= float64(len(raw.PerRouter))
	return p, nil
}

// Bound on a router's resident memory: boundBase plus boundPeer per peer.
const (
	boundBaseMiB = 30
	boundPeerMiB = 64.0 / 1024
)

// render draws three charts, whole resident memory (with the bound, where
// the series have it), anonymous resident memory and CPU, a line per
// series.
func render(ss []series) []byte {
	rss := svgchart.Chart{Title: "Resident memory per router (MiB, mean, binary included), idle; bound 30 MiB + 64 KiB a peer", XLabel: "routers", YLabel: "MiB", Marks: true}
	mem := svgchart.Chart{Title: "Anonymous resident memory per router (MiB, mean), idle", XLabel: "routers", YLabel: "MiB", Marks: true}
	cpu := svgchart.Chart{Title: "Idle CPU per router (% of a core, mean)", XLabel: "routers", YLabel: "% of a core", Marks: true}
	lo, hi := 0, 0
	for _, s := range ss {
		r := svgchart.Line{Name: s.label}
		m := svgchart.Line{Name: s.label}
		c := svgchart.Line{Name: s.label}
		for _, p := range s.points {
			if p.rssMiB > 0 {
				r.Points = append(r.Points, svgchart.Point{X: float64(p.routers), Y: p.rssMiB})
				if lo == 0 || p.routers < lo {
					lo = p.routers
				}
				hi = max(hi, p.routers)
			}
			m.Points = append(m.Points, svgchart.Point{X: float64(p.routers), Y: p.anonMiB})
			c.Points = append(c.Points, svgchart.Point{X: float64(p.routers), Y: p.cpuPct})
		}
		if len(r.Points) > 0 {
			rss.Lines = append(rss.Lines, r)
		}
		mem.Lines = append(mem.Lines, m)
		cpu.Lines = append(cpu.Lines, c)
	}
	if hi == 0 {
		return svgchart.SVG(mem, cpu)
	}
	bound := svgchart.Line{Name: "bound"}
	for _, n := range []int{lo, hi} {
		bound.Points = append(bound.Points, svgchart.Point{X: float64(n), Y: boundBaseMiB + boundPeerMiB*float64(n-1)})
	}
	rss.Lines = append(rss.Lines, bound)
	return svgchart.SVG(rss, mem, cpu)
}
