package main

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wellFormed reports an error if b is not well-formed XML with an svg root.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		t, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if se, ok := t.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		return errors.New("root element " + root + ", want svg")
	}
	return nil
}

// Every baseline of the repository renders to well-formed SVG with a row
// per system, in the order of their one-stream ratio.
func TestRenderBaselines(t *testing.T) {
	files, err := filepath.Glob("../baseline/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no baselines: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := parse(b)
			if err != nil {
				t.Fatal(err)
			}
			svg := render(r)
			if err := wellFormed(svg); err != nil {
				t.Fatal(err)
			}
			for _, s := range r.Systems {
				if !bytes.Contains(svg, []byte(`data-name="`+esc(s.Name)+`"`)) {
					t.Errorf("no row for %q", s.Name)
				}
			}
		})
	}
}

func TestParseKeepsOrderAndRejects(t *testing.T) {
	r, err := parse([]byte(`{"date":"d","systems":{"b":{"tcp1_ratio":0.2},"a":{"tcp1_ratio":0.9,"tcp4_ratio":1.5}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Systems) != 2 || r.Systems[0].Name != "b" || r.Systems[1].TCP4 != 1.5 {
		t.Errorf("systems %+v", r.Systems)
	}
	svg := string(render(r))
	if strings.Index(svg, `data-name="a"`) > strings.Index(svg, `data-name="b"`) {
		t.Error("rows not sorted by the one-stream ratio")
	}
	if !strings.Contains(svg, ">1.5<") && !strings.Contains(svg, ">1.50<") {
		t.Errorf("the scale does not reach 1.5:\n%s", svg)
	}
	for _, bad := range []string{``, `{}`, `{"systems":{}}`, `{"systems":[]}`, `{"systems":{"a":1}}`} {
		if _, err := parse([]byte(bad)); err == nil {
			t.Errorf("parse(%q): no error", bad)
		}
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "r.json")
	if err := os.WriteFile(in, []byte(`{"systems":{"veth":{"tcp1_ratio":1,"tcp4_ratio":1}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(in, filepath.Join(dir, "r.svg")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "r.svg")); err != nil || wellFormed(b) != nil {
		t.Errorf("r.svg: %v", err)
	}
}

// Whatever the results hold, the chart is well-formed SVG.
func FuzzRender(f *testing.F) {
	f.Add([]byte(`{"date":"2026-12-07","seconds":5,"reps":3,"nproc":2,"systems":{"veth":{"tcp1_ratio":1,"tcp4_ratio":1,"ping_ms":0.03}}}`))
	f.Add([]byte(`{"systems":{"<&\"x'>":{"tcp1_ratio":1e308,"tcp4_ratio":-3}}}`)) // markup in a name, huge and negative values
	f.Add([]byte(`{"systems":{"a":{"tcp1_ratio":0}}`))                            // truncated
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parse(b)
		if err != nil {
			return
		}
		if err := wellFormed(render(r)); err != nil {
			t.Fatalf("%v for %q", err, b)
		}
	})
}
