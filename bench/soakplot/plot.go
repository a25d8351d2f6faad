package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"

	"github.com/weave-switch/weave-switch/bench/internal/svgchart"
)

// series is each router's RSS samples in the order of the CSV.
type series struct {
	names []string            // routers, in order of first appearance
	pts   map[string][]sample // by router
}

type sample struct {
	t   float64 // seconds since the soak began
	mib float64 // resident memory
}

// parse reads the soak's CSV: a header naming at least t, router and
// rss_kib, then one row per router and sample.
func parse(r io.Reader) (*series, error) {
	rd := csv.NewReader(r)
	rd.FieldsPerRecord = -1
	head, err := rd.Read()
	if err != nil {
		return nil, fmt.Errorf("no header: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	for _, want := range []string{"t", "router", "rss_kib"} {
		if _, ok := col[want]; !ok {
			return nil, fmt.Errorf("header lacks %q", want)
		}
	}
	s := &series{pts: map[string][]sample{}}
	for line := 2; ; line++ {
		rec, err := rd.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(rec) != len(head) {
			return nil, fmt.Errorf("line %d: %d fields, want %d", line, len(rec), len(head))
		}
		t, err1 := strconv.ParseFloat(rec[col["t"]], 64)
		kib, err2 := strconv.ParseFloat(rec[col["rss_kib"]], 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if math.IsNaN(t) || math.IsInf(t, 0) || math.IsNaN(kib) || math.IsInf(kib, 0) {
			return nil, fmt.Errorf("line %d: not a finite number", line)
		}
		name := rec[col["router"]]
		if _, ok := s.pts[name]; !ok {
			s.names = append(s.names, name)
		}
		s.pts[name] = append(s.pts[name], sample{t, kib / 1024})
	}
	if len(s.names) == 0 {
		return nil, errors.New("no samples")
	}
	return s, nil
}

// render draws the series: time on x from 0, RSS on y from 0 to the
// largest sample rounded up, a legend on the right.
func render(s *series) []byte {
	c := svgchart.Chart{Title: "Soak: resident memory of each router (MiB) over time (s)"}
	for _, name := range s.names {
		l := svgchart.Line{Name: name}
		for _, p := range s.pts[name] {
			l.Points = append(l.Points, svgchart.Point{X: p.t, Y: p.mib})
		}
		c.Lines = append(c.Lines, l)
	}
	return svgchart.SVG(c)
}
