package main

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
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

// Chart geometry, in SVG user units.
const (
	width, height          = 720.0, 360.0
	left, right, top, bott = 60.0, 110.0, 30.0, 40.0
)

var colours = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// render draws the series: time on x from 0, RSS on y from 0 to the
// largest sample rounded up, a legend on the right.
func render(s *series) []byte {
	maxT, maxM := 1.0, 1.0
	for _, ps := range s.pts {
		for _, p := range ps {
			maxT = max(maxT, p.t)
			maxM = max(maxM, p.mib)
		}
	}
	maxM = niceCeil(maxM)
	pw, ph := width-left-right, height-top-bott
	x := func(t float64) float64 { return left + pw*t/maxT }
	y := func(m float64) float64 { return top + ph*(1-m/maxM) }

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%g" y="18" font-size="14">Soak: resident memory of each router (MiB) over time (s)</text>`+"\n", left)
	for i := 0; i <= 4; i++ {
		m := maxM * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(m), left+pw, y(m))
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end">%g</text>`+"\n", left-6, y(m)+4, m)
		t := maxT * float64(i) / 4
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%.0f</text>`+"\n", x(t), top+ph+18, t)
	}
	fmt.Fprintf(&b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#444"/>`+"\n", left, top, pw, ph)
	for i, name := range s.names {
		c := colours[i%len(colours)]
		ps := slices.Clone(s.pts[name])
		slices.SortStableFunc(ps, func(a, b sample) int { return cmpF(a.t, b.t) })
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="`, c)
		for j, p := range ps {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%.1f,%.1f", x(p.t), y(p.mib))
		}
		b.WriteString(`"/>` + "\n")
		ly := top + 16*float64(i) + 8
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="3"/>`+"\n", width-right+10, ly, width-right+30, ly, c)
		fmt.Fprintf(&b, `<text x="%g" y="%g">%s</text>`+"\n", width-right+36, ly+4, html.EscapeString(printable(name)))
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// printable drops what an SVG's text cannot hold: invalid UTF-8 and
// control characters.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}
