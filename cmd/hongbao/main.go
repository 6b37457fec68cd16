package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/hongbao/hongbao/service"
)

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = []command{
	{"serve", "run the service: embedded NATS server from nats.conf (or --nats-url) plus the micro service", runServe},
	{"bench", "load-benchmark a service (embedded or --nats-url) and the machine's ceilings in one run; report ratios", runBench},
	{"status", "show the read models' lag and running jobs", runStatus},
	{"rebuild", "rebuild read models from the stream (or --verify them against it)", runRebuild},
	{"reconcile", "replay ENVELOPES against LEDGER and prove the money adds up (I1–I5); --repair issues missing credits", runReconcile},
	{"audit", "explain one envelope: history, ledger transfers, re-derived shares and a verdict on I1–I5", runAudit},
	{"version", "print the version", func(_ context.Context, _ []string, stdout, _ io.Writer) error {
		_, err := fmt.Fprintln(stdout, "hongbao", service.Version)
		return err
	}},
}

// errUsage marks a command line that could not be parsed: exit status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(ctx, args[1:], stdout, stderr)
			switch {
			case err == nil, errors.Is(err, flag.ErrHelp):
				return 0
			case errors.Is(err, errUsage):
				if err != errUsage { // it says more than "usage"
					fmt.Fprintf(stderr, "hongbao %s: %v\n", c.name, err)
				}
				return 2
			}
			fmt.Fprintf(stderr, "hongbao %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "hongbao: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "hongbao — red envelopes on NATS JetStream\n\nUsage: hongbao <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'hongbao <command> -h' for a command's flags.")
}

// newFlags makes a flag set whose errors are returned, not fatal.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: hongbao %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, mapping errors to errUsage.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", fs.Args())
		return errUsage
	}
	return nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: log level %q", errUsage, level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// parseWithArg parses flags around at most one positional argument, which
// may stand before, between or after them (`rebuild --verify users --data
// ./data`); "" when there is none.
func parseWithArg(fs *flag.FlagSet, args []string) (string, error) {
	// Flag parsing stops at the argument: take it and parse the rest again.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", err
			}
			return "", errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(pos) {
	case 0:
		return "", nil
	case 1:
		return pos[0], nil
	}
	fmt.Fprintf(fs.Output(), "unexpected arguments: %v\n", pos[1:])
	return "", errUsage
}
