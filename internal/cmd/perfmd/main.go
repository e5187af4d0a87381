// Command perfmd records benchmark runs and turns their output into
// PERFORMANCE.md. The Makefile drives it:
//
//	perfmd run -family NAME -- go test -bench ...   # make bench: one family
//	perfmd report -o PERFORMANCE.md raw.txt         # make perf: the document
//
// run passes the command's output through unchanged and adds comment lines
// (ignored by benchstat) that name the family and record the exact command,
// the Go version, the load average and the CPU other processes took while it
// ran: on a shared machine that is what says whether the figures can be
// trusted. report reads that output, asks benchstat for the tables, checks
// the targets of SPEC section 11 and the issues (issue 13's for the
// adapter's path, with every message built, first; issue 6's for the pipe
// alone after them), and profiles the benchmarks behind any
// target missed, so the document carries its own evidence.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "run":
		err = runMain(os.Args[2:])
	case "report":
		err = reportMain(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "perfmd:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage:
  perfmd run -family NAME -- COMMAND [ARG...]
  perfmd report [-benchstat PATH] [-o FILE] [-notes FILE] [-profile] RAW...`)
	os.Exit(2)
}

// newFlags returns a FlagSet that prints usage and exits on a bad flag.
func newFlags(name string) *flag.FlagSet {
	return flag.NewFlagSet("perfmd "+name, flag.ExitOnError)
}
