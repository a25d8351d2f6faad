// Command soakplot draws the soak of scripts/netns-faults-test.sh as an
// SVG line chart: each router's resident memory (MiB) over the soak's
// seconds, one line per router.
//
//	go run ./bench/soakplot [-o OUT.svg] SOAK.csv
//
// The CSV has the header t,router,rss_kib,goroutines,fds. Without -o it
// writes SOAK.svg next to the CSV. It uses nothing beyond the standard
// library.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	out := flag.String("o", "", "SVG file to write (default: the CSV file with .svg)")
	flag.Usage = func() {
		fmt.Fprintln(flag.CommandLine.Output(), "usage: soakplot [-o OUT.svg] SOAK.csv")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	in := flag.Arg(0)
	if *out == "" {
		*out = strings.TrimSuffix(in, ".csv") + ".svg"
	}
	if err := run(in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "soakplot:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	s, err := parse(f)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, render(s), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
