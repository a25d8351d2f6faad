package main

import (
	"encoding/xml"
	"strings"
	"testing"
)

const sample = `{"routers": 3, "mesh": "full mesh", "revision": "abc",
 "per_router": [{"rss_kib": 20480, "rss_anon_kib": 1024, "idle_cpu_pct": 0.2}, {"rss_kib": 22528, "rss_anon_kib": 3072, "idle_cpu_pct": 0.4}, {"rss_kib": 21504, "rss_anon_kib": 2048, "idle_cpu_pct": 0.3}]}`

func TestParse(t *testing.T) {
	p, err := parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	if p.routers != 3 || p.rssMiB != 21 || p.anonMiB != 2 || p.cpuPct < 0.2999 || p.cpuPct > 0.3001 {
		t.Fatalf("parsed %+v", p)
	}
	for name, in := range map[string]string{
		"not json":   "{",
		"no routers": `{"routers": 0, "per_router": []}`,
		"negative":   `{"routers": 1, "per_router": [{"rss_anon_kib": -1, "idle_cpu_pct": 0}]}`,
	} {
		if _, err := parse([]byte(in)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// TestRender: the document is well-formed XML with both charts and every
// series' label, escaped.
func TestRender(t *testing.T) {
	p, err := parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	svg := string(render([]series{{label: "before <a&b>", points: []point{p}}, {label: "after", points: []point{p, {routers: 10, anonMiB: 5, cpuPct: 1}}}}))
	d := xml.NewDecoder(strings.NewReader(svg))
	for {
		if _, err := d.Token(); err != nil {
			if err.Error() == "EOF" {
				break
			}
			t.Fatalf("not XML: %v\n%s", err, svg)
		}
	}
	for _, want := range []string{"Resident memory", ">bound<", "Anonymous resident memory", "Idle CPU", "before &lt;a&amp;b&gt;", ">after<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("no %q in the chart", want)
		}
	}
}

// FuzzParse: any input parses or is refused, and what parses renders.
func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`{"routers": 1, "per_router": [{"rss_anon_kib": 1e308, "idle_cpu_pct": 1e308}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parse(b)
		if err != nil {
			return
		}
		_ = render([]series{{label: string(b), points: []point{p}}})
	})
}
