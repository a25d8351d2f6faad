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
		if math.IsNaN(r.Anon) || math.IsNaN(r.CPU) || math.IsInf(r.Anon, 0) || math.IsInf(r.CPU, 0) || r.Anon < 0 || r.CPU < 0 {
			return point{}, fmt.Errorf("router with anonymous RSS %v, CPU %v", r.Anon, r.CPU)
		}
		p.anonMiB += r.Anon / 1024
		p.cpuPct += r.CPU
	}
	p.anonMiB /= float64(len(raw.PerRouter))
	p.cpuPct /= float64(len(raw.PerRouter))
	return p, nil
}

// render draws two charts, memory above CPU, a line per series.
func render(ss []series) []byte {
	mem := svgchart.Chart{Title: "Anonymous resident memory per router (MiB, mean), idle", XLabel: "routers", YLabel: "MiB", Marks: true}
	cpu := svgchart.Chart{Title: "Idle CPU per router (% of a core, mean)", XLabel: "routers", YLabel: "% of a core", Marks: true}
	for _, s := range ss {
		m := svgchart.Line{Name: s.label}
		c := svgchart.Line{Name: s.label}
		for _, p := range s.points {
			m.Points = append(m.Points, svgchart.Point{X: float64(p.routers), Y: p.anonMiB})
			c.Points = append(c.Points, svgchart.Point{X: float64(p.routers), Y: p.cpuPct})
		}
		mem.Lines = append(mem.Lines, m)
		cpu.Lines = append(cpu.Lines, c)
	}
	return svgchart.SVG(mem, cpu)
}
