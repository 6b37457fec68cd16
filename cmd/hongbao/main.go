package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/willabides/kongplete"

	"github.com/hongbao/hongbao/service"
)

// cli is the whole command line: one field per command. A new flag is a
// field with a help tag (and a default tag when it has one); its
// environment variable HONGBAO_<FLAG> is added by [kong.DefaultEnvars], and
// docs/operations.md is regenerated with
// `go test ./cmd/hongbao -run TestFlagDocs -update`.
type cli struct {
	Serve      serveCmd      `cmd:"" help:"Run the service: embedded NATS server from nats.conf (or --nats-url) plus the micro service."`
	Status     statusCmd     `cmd:"" help:"Show the read models' lag, the dispatcher, the last reconciliation and running jobs."`
	Rebuild    rebuildCmd    `cmd:"" help:"Rebuild read models from the stream and swap them in (--verify: compare them)."`
	Reconcile  reconcileCmd  `cmd:"" help:"Replay ENVELOPES against LEDGER and prove the money adds up (I1–I5); --repair issues missing credits."`
	Audit      auditCmd      `cmd:"" help:"Explain one envelope: history, ledger transfers, re-derived shares and a verdict on I1–I5."`
	Auth       authCmd       `cmd:"" help:"Credentials of a deployment with the embedded server: migrate a data directory from before authentication."`
	Keys       keysCmd       `cmd:"" help:"List the instance keys that sign appends and where each stream's signing begins (tamper evidence)."`
	Risk       riskCmd       `cmd:"" help:"Risk controls of a running service: block, unblock and list users and senders."`
	Bench      benchCmd      `cmd:"" help:"Load-benchmark a service (embedded or --nats-url) and the machine's ceilings in one run."`
	Version    versionCmd    `cmd:"" help:"Print the version."`
	Completion completionCmd `cmd:"" help:"Print a shell completion script: eval \"$(hongbao completion bash)\" (or zsh, fish)."`
}

// runEnv is what every command's Run receives.
type runEnv struct {
	ctx            context.Context
	stdout, stderr io.Writer
}

// parserExit carries kong's exit (after -h) out of the parser.
type parserExit int

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// newParser builds the command line's parser; exit is called after help.
func newParser(stdout, stderr io.Writer, exit func(int)) (*kong.Kong, error) {
	return kong.New(&cli{},
		kong.Name("hongbao"),
		kong.Description("hongbao — red envelopes on NATS JetStream.\n\nExit status: "+exitStatusSummary()),
		kong.Writers(stdout, stderr),
		kong.Exit(exit),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.DefaultEnvars("HONGBAO"),
		kong.Vars(defaultVars()),
	)
}

// run runs the command line args and returns the process's exit status
// (see exitStatuses).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	noArgs := len(args) == 0
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(parserExit)
			if !ok {
				panic(r)
			}
			code = int(c)
			if noArgs {
				code = exitUsage // the help, but no command
			}
		}
	}()
	parser, err := newParser(stdout, stderr, func(c int) { panic(parserExit(c)) })
	if err != nil {
		panic(err) // a mistake in the cli struct; TestFlagDocs finds it
	}
	kongplete.Complete(parser) // answers the shell when COMP_LINE is set
	if len(args) > 0 && args[0] == "help" {
		args = append(args[1:], "--help")
	}
	if noArgs {
		args = []string{"--help"}
	}
	kctx, err := parser.Parse(singleDashCompat(parser, args))
	if err != nil {
		help := "hongbao --help"
		if pe, ok := errorsAs[*kong.ParseError](err); ok && pe.Context != nil && pe.Context.Selected() != nil {
			help = "hongbao " + pe.Context.Selected().Name + " --help"
		}
		fmt.Fprintf(stderr, "hongbao: %s (see %s)\n", userMessage(err), help)
		return exitUsage
	}
	err = kctx.Run(&runEnv{ctx: ctx, stdout: stdout, stderr: stderr})
	if err == nil {
		return exitOK
	}
	code = exitCode(err)
	fmt.Fprintf(stderr, "hongbao %s: %s\n", kctx.Selected().Name, userMessage(err))
	return code
}

// singleDashCompat rewrites -long-flag as --long-flag: Go's flag package,
// which hongbao used before, accepted both spellings, and scripts may use
// the single dash.
func singleDashCompat(p *kong.Kong, args []string) []string {
	long := map[string]bool{}
	var walk func(n *kong.Node)
	walk = func(n *kong.Node) {
		for _, f := range n.Flags {
			long[f.Name] = true
		}
		for _, c := range n.Children {
			walk(c)
		}
	}
	walk(p.Model.Node)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			name, _, _ := strings.Cut(a[1:], "=")
			if long[name] && len(name) > 1 {
				out[i] = "-" + a
			}
		}
	}
	return out
}

type versionCmd struct {
	JSON bool `name:"json" help:"Print JSON."`
}

func (c *versionCmd) Run(e *runEnv) error {
	if c.JSON {
		return json.NewEncoder(e.stdout).Encode(map[string]string{"name": "hongbao", "version": service.Version})
	}
	_, err := fmt.Fprintln(e.stdout, "hongbao", service.Version)
	return err
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, usageErrorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// errorsAs is errors.As for a value type.
func errorsAs[T error](err error) (T, bool) {
	var t T
	ok := errors.As(err, &t)
	return t, ok
}
