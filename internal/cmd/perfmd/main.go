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
//
// It stays in the library's module rather than the tools module on purpose:
// the tools module exists to pin third-party tools (staticcheck, benchstat)
// out of the library's go.mod, and perfmd imports only the standard library,
// so it adds nothing there. Under internal/ it is no part of the API, yet
// `make test` and `make lint` cover it with the rest, and the Makefile runs
// it with `go run` from the repository root, where its benchmark commands'
// package paths are valid. In the tools module it would need a build step
// into ./bin and test and lint passes of its own.
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
