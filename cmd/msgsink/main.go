// Command msgsink runs a domain relay, checks services.toml files, tails a
// relay, serves the live dashboard, and runs the demo. Run "msgsink help" for the subcommands and
// "msgsink CMD -h" for each one's flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// command is one subcommand. run gets the arguments after its name and
// returns the exit status; it writes results to stdout and problems to stderr.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var commands []command

func init() {
	commands = []command{
		{"relay", "[flags]", "run one domain relay on a Unix (or TCP) socket", runRelay},
		{"check", "FILE [-probe]", "validate a services.toml; -probe also tries every endpoint", runCheck},
		{"tail", "-endpoint unix:///PATH [flags]", "subscribe to a relay and print the messages it forwards", runTail},
		{"demo", "[flags]", "run a relay, the dashboard, a market-data adapter and a consumer for a few seconds", runDemo},
		{"dashboard", "[-listen HOST:PORT] [-relay unix:///PATH]", "serve a live page of the feed: rates, latency, gaps, busiest instruments", runDashboard},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "msgsink: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: msgsink COMMAND [arguments]")
	fmt.Fprintln(w)
	for _, c := range commands {
		fmt.Fprintf(w, "  %-6s %s\n         %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nRun \"msgsink COMMAND -h\" for a command's flags.")
}

// flags returns a FlagSet for the named command that reports its problems
// to stderr and prints its usage on -h.
func flags(name, args, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: msgsink %s %s\n\n%s\n\nFlags:\n", name, args, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, letting flags come after positional arguments too
// ("check FILE -probe"), and returns the positional ones. Its status is -1
// to go on, else the exit status: 0 after -h, 2 for a bad flag.
func parse(fs *flag.FlagSet, args []string) ([]string, int) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0
			}
			return nil, 2
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, -1
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}
