package main

import (
	"encoding/xml"
	"strings"
	"testing"
)

const sampleCSV = `t,router,rss_kib,goroutines,fds
0,h1,20480,30,15
0,h2,30720,31,16
10,h1,21504,30,15
10,h2,30720,32,16
`

func TestParse(t *testing.T) {
	s, err := parse(strings.NewReader(sampleCSV))
	if err != nil {
		t.Fatal(err)
	}
	if len(s.names) != 2 || s.names[0] != "h1" || s.names[1] != "h2" {
		t.Fatalf("routers %v", s.names)
	}
	if got := s.pts["h1"][1]; got.t != 10 || got.mib != 21 {
		t.Fatalf("h1's second sample %+v", got)
	}
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":      "",
		"no column":  "t,router\n0,h1\n",
		"no samples": "t,router,rss_kib\n",
		"not number": "t,router,rss_kib\n0,h1,lots\n",
		"short row":  "t,router,rss_kib\n0,h1\n",
		"infinite":   "t,router,rss_kib\n0,h1,Inf\n",
	} {
		if _, err := parse(strings.NewReader(in)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestRenderIsSVG(t *testing.T) {
	s, err := parse(strings.NewReader(sampleCSV + "20,<h3>,1,1,1\n"))
	if err != nil {
		t.Fatal(err)
	}
	out := render(s)
	d := xml.NewDecoder(strings.NewReader(string(out)))
	lines := 0
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 3 {
		t.Fatalf("%d polylines, want one per router (3)\n%s", lines, out)
	}
	if !strings.Contains(string(out), "&lt;h3&gt;") {
		t.Fatal("router name not escaped")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sampleCSV)
	f.Add("t,router,rss_kib\n1e308,x,-1\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := parse(strings.NewReader(in))
		if err != nil {
			return
		}
		if err := xml.Unmarshal(render(s), new(struct{})); err != nil {
			t.Fatalf("render: %v", err)
		}
	})
}
