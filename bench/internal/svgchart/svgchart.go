// Package svgchart draws the bench's line charts as standalone SVG
// documents, with nothing beyond the standard library: the soak's memory
// over time (bench/soakplot) and the cost per peer against the number of
// routers (bench/scaleplot). It also holds the text escaping every bench
// chart uses (bench/plot's bar chart too).
package svgchart

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Point is one sample of a line.
type Point struct{ X, Y float64 }

// Line is a named series of points, drawn in X order.
type Line struct {
	Name   string
	Points []Point
	Dashed bool
}

// Chart is one line chart: axes from 0 to the largest X and the largest
// Y rounded up (NiceCeil), a grid of quarters, a legend on the right.
type Chart struct {
	Title          string
	XLabel, YLabel string
	Lines          []Line
	// Marks: draw a dot at every point (few points per line).
	Marks bool
}

// Geometry of one chart, in SVG user units.
const (
	Width, Height          = 720.0, 360.0
	left, right, top, bott = 60.0, 150.0, 30.0, 46.0
)

// Colours are the lines' colours, in order.
var Colours = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"}

// SVG returns a document with the charts stacked vertically.
func SVG(charts ...Chart) []byte {
	var b bytes.Buffer
	h := Height * float64(len(charts))
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`+"\n", Width, h, Width, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	for i, c := range charts {
		fmt.Fprintf(&b, `<g transform="translate(0 %g)">`+"\n", Height*float64(i))
		c.render(&b)
		b.WriteString("</g>\n")
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func (c Chart) render(b *bytes.Buffer) {
	maxX, maxY := 1.0, 1.0
	for _, l := range c.Lines {
		for _, p := range l.Points {
			maxX = max(maxX, finite(p.X))
			maxY = max(maxY, finite(p.Y))
		}
	}
	maxY = NiceCeil(maxY)
	pw, ph := Width-left-right, Height-top-bott
	x := func(v float64) float64 { return left + pw*finite(v)/maxX }
	y := func(v float64) float64 { return top + ph*(1-finite(v)/maxY) }
	fmt.Fprintf(b, `<text x="%g" y="18" font-size="14">%s</text>`+"\n", left, Esc(c.Title))
	for i := 0; i <= 4; i++ {
		v := maxY * float64(i) / 4
		fmt.Fprintf(b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#ddd"/>`+"\n", left, y(v), left+pw, y(v))
		fmt.Fprintf(b, `<text x="%g" y="%.1f" text-anchor="end">%g</text>`+"\n", left-6, y(v)+4, v)
		t := maxX * float64(i) / 4
		fmt.Fprintf(b, `<text x="%.1f" y="%g" text-anchor="middle">%.3g</text>`+"\n", x(t), top+ph+18, t)
	}
	fmt.Fprintf(b, `<text x="%g" y="%g" text-anchor="middle" fill="#555">%s</text>`+"\n", left+pw/2, top+ph+36, Esc(c.XLabel))
	fmt.Fprintf(b, `<text x="14" y="%g" text-anchor="middle" fill="#555" transform="rotate(-90 14 %g)">%s</text>`+"\n", top+ph/2, top+ph/2, Esc(c.YLabel))
	fmt.Fprintf(b, `<rect x="%g" y="%g" width="%g" height="%g" fill="none" stroke="#444"/>`+"\n", left, top, pw, ph)
	for i, l := range c.Lines {
		col := Colours[i%len(Colours)]
		ps := slices.Clone(l.Points)
		slices.SortStableFunc(ps, func(a, b Point) int { return cmpF(a.X, b.X) })
		dash := ""
		if l.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="`, col, dash)
		for j, p := range ps {
			if j > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(b, "%.1f,%.1f", x(p.X), y(p.Y))
		}
		b.WriteString(`"/>` + "\n")
		if c.Marks {
			for _, p := range ps {
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s</title></circle>`+"\n",
					x(p.X), y(p.Y), col, Esc(fmt.Sprintf("%s: %g, %g", l.Name, finite(p.X), finite(p.Y))))
			}
		}
		ly := top + 16*float64(i) + 8
		fmt.Fprintf(b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="3"%s/>`+"\n", Width-right+10, ly, Width-right+30, ly, col, dash)
		fmt.Fprintf(b, `<text x="%g" y="%g">%s</text>`+"\n", Width-right+36, ly+4, Esc(l.Name))
	}
}

// Esc makes s safe as SVG text or an attribute value: it drops invalid
// UTF-8 and unprintable characters and escapes the rest.
func Esc(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, s)
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// NiceCeil rounds v (positive) up to 1, 2 or 5 times a power of ten.
func NiceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// finite maps NaN and infinities to 0, so that a bad sample cannot break
// the document.
func finite(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
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
