// Command scaleplot draws the cost per peer measured by
// scripts/bench-scale.sh as an SVG: anonymous resident memory and idle
// CPU per router (means over the routers) against the number of routers,
// one line per series.
//
//	go run ./bench/scaleplot -o OUT.svg LABEL=A.json,B.json... [LABEL=...]
//
// Each series is a label and the bench-scale JSON files of its points
// (one per number of routers). It uses nothing beyond the standard
// library.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	out := flag.String("o", "", "SVG file to write (required)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: scaleplot -o OUT.svg LABEL=A.json,B.json... [LABEL=...]")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *out == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var specs []spec
	for _, a := range flag.Args() {
		label, files, ok := strings.Cut(a, "=")
		if !ok || label == "" || files == "" {
			fmt.Fprintf(os.Stderr, "scaleplot: %q is not LABEL=FILE[,FILE...]\n", a)
			os.Exit(2)
		}
		specs = append(specs, spec{label, strings.Split(files, ",")})
	}
	if err := run(specs, *out); err != nil {
		fmt.Fprintln(os.Stderr, "scaleplot:", err)
		os.Exit(1)
	}
}

type spec struct {
	label string
	files []string
}

func run(specs []spec, out string) error {
	var ss []series
	for _, sp := range specs {
		s := series{label: sp.label}
		for _, f := range sp.files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			p, err := parse(b)
			if err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			s.points = append(s.points, p)
		}
		ss = append(ss, s)
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, render(ss), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
