package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/weave-switch/weave-switch/bench/internal/svgchart"
)

// results is the part of bench/run.sh's JSON the chart shows.
type results struct {
	Date    string `json:"date"`
	Seconds int    `json:"seconds"`
	Reps    int    `json:"reps"`
	NProc   int    `json:"nproc"`
	Systems []system
}

// system is one row of the bench's table.
type system struct {
	Name   string
	TCP1   float64 `json:"tcp1_ratio"`
	TCP4   float64 `json:"tcp4_ratio"`
	Gbps1  float64 `json:"tcp1_gbps"`
	Gbps4  float64 `json:"tcp4_gbps"`
	PingMS float64 `json:"ping_ms"`
}

// parse reads the results, keeping the systems in the file's order.
func parse(b []byte) (results, error) {
	var raw struct {
		Date    string          `json:"date"`
		Seconds int             `json:"seconds"`
		Reps    int             `json:"reps"`
		NProc   int             `json:"nproc"`
		Systems json.RawMessage `json:"systems"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return results{}, err
	}
	r := results{Date: raw.Date, Seconds: raw.Seconds, Reps: raw.Reps, NProc: raw.NProc}
	if len(raw.Systems) == 0 {
		return r, errors.New("no systems")
	}
	dec := json.NewDecoder(bytes.NewReader(raw.Systems))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return r, errors.New("systems: not an object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return r, err
		}
		s := system{Name: t.(string)} // an object's keys are strings
		if err := dec.Decode(&s); err != nil {
			return r, fmt.Errorf("system %q: %w", s.Name, err)
		}
		for _, v := range []*float64{&s.TCP1, &s.TCP4, &s.Gbps1, &s.Gbps4, &s.PingMS} {
			if math.IsNaN(*v) || *v < 0 {
				*v = 0
			}
			*v = min(*v, maxValue)
		}
		r.Systems = append(r.Systems, s)
	}
	if len(r.Systems) == 0 {
		return r, errors.New("no systems")
	}
	return r, nil
}

// maxValue bounds every number read, and maxScale the chart's scale: a
// ratio beyond it is drawn to the edge.
const (
	maxValue = 1e6
	maxScale = 10.0
)

// target is a line drawn across the chart.
type target struct {
	ratio float64
	label string
}

var targets = []target{
	{0.30, "userspace target 0.30"},
	{0.55, "fast path target 0.55"},
}

// Chart geometry, in SVG user units.
const (
	width    = 960
	left     = 190 // system names
	right    = 170 // values and ping
	top      = 64
	rowH     = 36
	barH     = 13
	bottomPx = 46
)

// render draws r as an SVG document: per system, a bar for one TCP
// stream and one for four, longest first, with the ratio and Gbit/s at
// the bar's end and the ping on the right.
func render(r results) []byte {
	rows := slices.Clone(r.Systems)
	slices.SortStableFunc(rows, func(a, b system) int {
		switch {
		case a.TCP1 > b.TCP1:
			return -1
		case a.TCP1 < b.TCP1:
			return 1
		}
		return 0
	})
	maxRatio := 1.0
	for _, s := range rows {
		maxRatio = max(maxRatio, s.TCP1, s.TCP4)
	}
	maxRatio = min(math.Ceil(maxRatio*10)/10, maxScale)
	plotW := float64(width - left - right)
	x := func(ratio float64) float64 { return left + min(ratio, maxRatio)/maxRatio*plotW }
	height := top + rowH*len(rows) + bottomPx

	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	p(`<rect width="100%%" height="100%%" fill="#fff"/>` + "\n")
	p(`<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left,
		esc("TCP throughput as a ratio to raw veth measured in the same run"))
	p(`<text x="%d" y="40" fill="#555">%s</text>`+"\n", left,
		esc(fmt.Sprintf("bench %s · iperf3 %d s, median of %d interleaved repetitions · %d CPUs", r.Date, r.Seconds, r.Reps, r.NProc)))
	// Legend.
	p(`<rect x="%d" y="48" width="14" height="9" fill="#2b7bb9"/><text x="%d" y="57">1 stream</text>`+"\n", left, left+18)
	p(`<rect x="%d" y="48" width="14" height="9" fill="#9cc3e4"/><text x="%d" y="57">4 streams</text>`+"\n", left+90, left+108)
	p(`<text x="%d" y="57" fill="#555">ping</text>`+"\n", width-60)
	// Grid every 0.1.
	step := 0.1
	if maxRatio > 2 {
		step = 0.5
	}
	for i := 0; float64(i)*step <= maxRatio+1e-9; i++ {
		g := float64(i) * step
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#e5e5e5"/>`+"\n", x(g), top-4, x(g), height-bottomPx+4)
		p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#555">%.1f</text>`+"\n", x(g), height-bottomPx+20, g)
	}
	for i, s := range rows {
		y := top + i*rowH
		p(`<g class="system" data-name="%s">`, esc(s.Name))
		p(`<text x="%d" y="%d" text-anchor="end">%s</text>`, left-10, y+barH+4, esc(s.Name))
		p(`<rect x="%d" y="%d" width="%.1f" height="%d" fill="#2b7bb9"><title>%s</title></rect>`,
			left, y, x(s.TCP1)-left, barH, esc(fmt.Sprintf("%s, 1 stream: %.3f (%.2f Gbit/s)", s.Name, s.TCP1, s.Gbps1)))
		p(`<rect x="%d" y="%d" width="%.1f" height="%d" fill="#9cc3e4"><title>%s</title></rect>`,
			left, y+barH+1, x(s.TCP4)-left, barH, esc(fmt.Sprintf("%s, 4 streams: %.3f (%.2f Gbit/s)", s.Name, s.TCP4, s.Gbps4)))
		p(`<text x="%.1f" y="%d" font-size="11">%.2f · %.1f Gbit/s</text>`, x(s.TCP1)+4, y+barH-2, s.TCP1, s.Gbps1)
		p(`<text x="%.1f" y="%d" font-size="11" fill="#555">%.2f</text>`, x(s.TCP4)+4, y+2*barH-1, s.TCP4)
		if s.PingMS > 0 {
			p(`<text x="%d" y="%d" fill="#555">%.3f ms</text>`, width-60, y+barH+4, s.PingMS)
		}
		p("</g>\n")
	}
	for _, t := range targets {
		if t.ratio > maxRatio {
			continue
		}
		p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#d33a2c" stroke-dasharray="5 4"/>`+"\n", x(t.ratio), top-4, x(t.ratio), height-bottomPx+4)
		p(`<text x="%.1f" y="%d" fill="#d33a2c" font-size="11" text-anchor="middle">%s</text>`+"\n", x(t.ratio), height-bottomPx+36, esc(t.label))
	}
	p("</svg>\n")
	return []byte(b.String())
}

// esc escapes s for SVG text and attribute values.
func esc(s string) string { return svgchart.Esc(s) }
