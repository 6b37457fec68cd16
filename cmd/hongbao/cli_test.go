package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/alecthomas/kong"
	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/embedded"
	"github.com/hongbao/hongbao/internal/natstest"
)

var update = flag.Bool("update", false, "rewrite docs/operations.md's generated sections")

// testParser is the command line's parser, as run builds it.
func testParser(t *testing.T) *kong.Kong {
	t.Helper()
	p, err := newParser(io.Discard, io.Discard, func(int) {})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// commandNodes are the commands, in the order of the help.
func commandNodes(p *kong.Kong) []*kong.Node {
	return p.Model.Node.Children
}

// TestEveryFlagHasEnvAndHelp: every flag can be set from the environment
// (HONGBAO_<FLAG>, and NATS_URL/NATS_CREDS for the connection) and says
// what it does.
func TestEveryFlagHasEnvAndHelp(t *testing.T) {
	p := testParser(t)
	for _, cmd := range commandNodes(p) {
		if cmd.Help == "" {
			t.Errorf("%s: no help", cmd.Name)
		}
		for _, f := range cmd.Flags {
			if f.Name == "help" {
				continue
			}
			want := "HONGBAO_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
			if len(f.Envs) == 0 || f.Envs[0] != want {
				t.Errorf("%s --%s: environment %v, want %s first", cmd.Name, f.Name, f.Envs, want)
			}
			if strings.TrimSpace(f.Help) == "" {
				t.Errorf("%s --%s: no help", cmd.Name, f.Name)
			}
			switch f.Name {
			case "nats-url":
				if !slices.Contains(f.Envs, "NATS_URL") {
					t.Errorf("%s --nats-url: not from NATS_URL (%v)", cmd.Name, f.Envs)
				}
			case "creds":
				if !slices.Contains(f.Envs, "NATS_CREDS") {
					t.Errorf("%s --creds: not from NATS_CREDS (%v)", cmd.Name, f.Envs)
				}
			}
		}
		// Every command that connects to NATS takes credentials.
		if hasFlag(cmd, "nats-url") != hasFlag(cmd, "creds") {
			t.Errorf("%s: --nats-url without --creds", cmd.Name)
		}
	}
	for _, name := range []string{"serve", "status", "rebuild", "reconcile", "audit", "bench"} {
		if !hasFlag(node(t, p, name), "nats-url") {
			t.Errorf("%s has no --nats-url", name)
		}
	}
	if !hasFlag(node(t, p, "serve"), "http") || !hasFlag(node(t, p, "serve"), "listen") {
		t.Errorf("serve: no --http or --listen")
	}
}

func hasFlag(n *kong.Node, name string) bool {
	for _, f := range n.Flags {
		if f.Name == name {
			return true
		}
	}
	return false
}

func node(t *testing.T, p *kong.Kong, name string) *kong.Node {
	t.Helper()
	for _, n := range commandNodes(p) {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no command %s", name)
	return nil
}

// TestHelp: `hongbao <cmd> -h` shows every flag with its environment
// variable; rebuild's lists every read model, wallets too.
func TestHelp(t *testing.T) {
	p := testParser(t)
	for _, cmd := range commandNodes(p) {
		code, out, errOut := runCLI(t, cmd.Name, "-h")
		if code != exitOK {
			t.Fatalf("%s -h: exit %d\n%s", cmd.Name, code, errOut)
		}
		for _, f := range cmd.Flags {
			if !strings.Contains(out, "--"+f.Name) && !strings.Contains(out, "--[no-]"+f.Name) {
				t.Errorf("%s -h does not show --%s", cmd.Name, f.Name)
			}
			for _, env := range f.Envs {
				if !strings.Contains(out, "$"+env) {
					t.Errorf("%s -h does not show $%s", cmd.Name, env)
				}
			}
		}
	}
	_, out, _ := runCLI(t, "rebuild", "-h")
	for _, v := range []string{"detail", "users", "outbox", "wallets", "all"} {
		if !strings.Contains(out, v) {
			t.Errorf("rebuild -h does not list %s:\n%s", v, out)
		}
	}
}

// TestEnvironment: NATS_URL and NATS_CREDS reach the connection; the
// HONGBAO_ variable wins over NATS_URL; a flag wins over both.
func TestEnvironment(t *testing.T) {
	srv := natstest.Start(t, natstest.WithListen())
	dead := fmt.Sprintf("nats://127.0.0.1:%d", freePort(t))
	const id = "0123456789ABCDEFGHJKMNPQRS"

	t.Setenv("NATS_URL", srv.URL())
	code, _, errOut := runCLI(t, "audit", id)
	if code != exitFailed || !strings.Contains(errOut, "connected to NATS at "+srv.URL()) || !strings.Contains(errOut, "no such envelope") {
		t.Fatalf("audit with NATS_URL: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI(t, "reconcile", "--nats-url", dead)
	if code != exitUnavailable || !strings.Contains(errOut, "cannot connect to NATS at "+dead) {
		t.Fatalf("--nats-url over NATS_URL: exit %d\n%s", code, errOut)
	}
	t.Setenv("HONGBAO_NATS_URL", dead)
	code, _, errOut = runCLI(t, "status")
	if code != exitUnavailable || !strings.Contains(errOut, dead) {
		t.Fatalf("HONGBAO_NATS_URL over NATS_URL: exit %d\n%s", code, errOut)
	}
	t.Setenv("HONGBAO_NATS_URL", "")
	os.Unsetenv("HONGBAO_NATS_URL")

	creds := filepath.Join(t.TempDir(), "absent.creds")
	t.Setenv("NATS_CREDS", creds)
	code, _, errOut = runCLI(t, "reconcile")
	if code != exitUnavailable || !strings.Contains(errOut, "absent.creds") {
		t.Fatalf("NATS_CREDS: exit %d\n%s", code, errOut)
	}

	t.Setenv("HONGBAO_EXPIRY", "0s")
	if code, _, errOut = runCLI(t, "serve", "--nats-url", dead); code != exitUsage || !strings.Contains(errOut, "--expiry 0s") {
		t.Fatalf("HONGBAO_EXPIRY: exit %d\n%s", code, errOut)
	}
	t.Setenv("HONGBAO_MAX_COUNT", "many")
	if code, _, errOut = runCLI(t, "serve"); code != exitUsage || !strings.Contains(errOut, "HONGBAO_MAX_COUNT") {
		t.Fatalf("HONGBAO_MAX_COUNT: exit %d\n%s", code, errOut)
	}
}

// TestNoSilentData: without a server, the offline tools neither create
// ./data nor pretend: they say what is missing (exit status 3).
func TestNoSilentData(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, args := range [][]string{{"status"}, {"rebuild", "--verify"}, {"reconcile"}, {"audit", "0123456789ABCDEFGHJKMNPQRS"}} {
		code, _, errOut := runCLI(t, append(args, "--offline")...)
		if code != exitUnavailable || !strings.Contains(errOut, "holds no stopped service's data") {
			t.Errorf("%v: exit %d\n%s", args, code, errOut)
		}
	}
	if _, err := os.Stat("data"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("./data was created: %v", err)
	}
}

// TestExitStatus classifies errors and cleans their messages.
func TestExitStatus(t *testing.T) {
	cases := []struct {
		err  error
		code int
	}{
		{usageErrorf("x"), exitUsage},
		{found(errors.New("x")), exitFound},
		{fmt.Errorf("wrapped: %w", unavailable(errors.New("x"))), exitUnavailable},
		{fmt.Errorf("%w: x", embedded.ErrConfig), exitUsage},
		{fmt.Errorf("%w: port taken", embedded.ErrStart), exitUnavailable},
		{fmt.Errorf("connect: %w", nats.ErrNoServers), exitUnavailable},
		{errors.New("disk full"), exitFailed},
	}
	for _, c := range cases {
		if got := exitCode(c.err); got != c.code {
			t.Errorf("exitCode(%v) = %d, want %d", c.err, got, c.code)
		}
	}
	seen := map[int]bool{}
	for _, e := range exitStatuses {
		seen[e.code] = true
	}
	for _, c := range []int{exitOK, exitFound, exitUsage, exitUnavailable, exitFailed} {
		if !seen[c] {
			t.Errorf("exit status %d is not documented", c)
		}
	}
	for in, want := range map[string]string{
		"envelope: invalid amount: 0":                               "invalid amount: 0",
		"embedded: connect nats://x: nats: no servers available":    "connect nats://x: no servers available",
		"reconcile: no such envelope: 01ABC":                        "no such envelope: 01ABC",
		"the service answered hongbao.admin.x.status with 500 oops": "the service answered hongbao.admin.x.status with 500 oops",
	} {
		if got := userMessage(errors.New(in)); got != want {
			t.Errorf("userMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFlagDocs: docs/operations.md's configuration and exit status
// sections are the command line's; -update rewrites them.
func TestFlagDocs(t *testing.T) {
	const path = "../../docs/operations.md"
	const begin, end = "<!-- BEGIN generated by TestFlagDocs (go test ./cmd/hongbao -run TestFlagDocs -update) -->\n", "<!-- END generated -->\n"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("%s: no generated section (%q ... %q)", path, begin, end)
	}
	want := text[:i+len(begin)] + flagReference(testParser(t)) + text[j:]
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want != text {
		t.Errorf("%s is not the command line's: run go test ./cmd/hongbao -run TestFlagDocs -update", path)
	}
}

// flagReference writes every command's arguments and flags as markdown.
func flagReference(p *kong.Kong) string {
	var b strings.Builder
	b.WriteString("## Configuration\n\nEvery flag can also be set by its environment variable; a flag on the command\nline wins over the environment, which wins over the default.\n")
	for _, cmd := range commandNodes(p) {
		fmt.Fprintf(&b, "\n### hongbao %s\n\n%s\n\n", cmd.Name, cmd.Help)
		if len(cmd.Flags) == 1 && len(cmd.Positional) == 0 {
			continue
		}
		b.WriteString("| flag | environment | default | meaning |\n|---|---|---|---|\n")
		for _, a := range cmd.Positional {
			fmt.Fprintf(&b, "| `<%s>` (argument) | | %s | %s |\n", a.Name, code(a.Default), cell(a.Help))
		}
		for _, f := range cmd.Flags {
			if f.Name == "help" {
				continue
			}
			envs := make([]string, len(f.Envs))
			for i, e := range f.Envs {
				envs[i] = "`" + e + "`"
			}
			fmt.Fprintf(&b, "| `--%s` | %s | %s | %s |\n", f.Name, strings.Join(envs, ", "), code(f.Default), cell(f.Help))
		}
	}
	b.WriteString("\n## Exit statuses\n\nEvery command exits with one of these (defined in `cmd/hongbao/exit.go`):\n\n| status | meaning |\n|---|---|\n")
	for _, e := range exitStatuses {
		fmt.Fprintf(&b, "| %d | %s |\n", e.code, cell(e.meaning))
	}
	return b.String()
}

func code(s string) string {
	if s == "" {
		return ""
	}
	return "`" + s + "`"
}

func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", `\<`).Replace(s)
}
