// Command plot draws the table of bench/run.sh as an SVG bar chart: each
// system's TCP throughput as a ratio to raw veth measured in the same
// run, one stream and four, with the project's targets as lines.
//
//	go run ./bench/plot [-o OUT.svg] RESULTS.json
//
// Without -o it writes RESULTS.svg next to the results. It uses nothing
// beyond the standard library.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	out := flag.String("o", "", "SVG file to write (default: the results file with .svg)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: plot [-o OUT.svg] RESULTS.json")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	in := flag.Arg(0)
	if *out == "" {
		*out = strings.TrimSuffix(in, ".json") + ".svg"
	}
	if err := run(in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	b, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	r, err := parse(b)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, render(r), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
