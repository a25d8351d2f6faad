package svgchart

import (
	"encoding/xml"
	"io"
	"math"
	"strings"
	"testing"
)

func TestNiceCeil(t *testing.T) {
	for in, want := range map[float64]float64{0.3: 0.5, 1: 1, 1.2: 2, 3: 5, 7: 10, 42: 50, 120: 200} {
		if got := NiceCeil(in); math.Abs(got-want) > 1e-9 {
			t.Errorf("NiceCeil(%v) = %v, want %v", in, got, want)
		}
	}
}

// TestSVG: two charts with hostile names and non-finite points make one
// well-formed document.
func TestSVG(t *testing.T) {
	c := Chart{Title: "t <1>", XLabel: "x", YLabel: "y", Marks: true, Lines: []Line{
		{Name: "a&b\x00", Points: []Point{{1, 2}, {0, math.NaN()}, {3, math.Inf(1)}}},
		{Name: "c", Dashed: true, Points: []Point{{2, 1}}},
	}}
	svg := string(SVG(c, c))
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		_, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v", err)
		}
	}
	if strings.Count(svg, "<polyline") != 4 || !strings.Contains(svg, "a&amp;b") || strings.Contains(svg, "NaN") {
		t.Fatalf("unexpected document:\n%s", svg)
	}
}
