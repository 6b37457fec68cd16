package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/natstest"
)

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Commands:"},
		{[]string{"help"}, 0, "serve"},
		{[]string{"help", "rebuild"}, 0, "--verify"},
		{[]string{"nope"}, 2, `unexpected argument nope`},
		{[]string{"serve", "-h"}, 0, "--nats-url"},
		{[]string{"serve", "--bogus"}, 2, "unknown flag --bogus"},
		{[]string{"serve", "--expiry", "0s"}, 2, "--expiry 0s: must be positive"},
		{[]string{"serve", "-expiry", "0s"}, 2, "--expiry 0s: must be positive"}, // Go's flag spelling still works
		{[]string{"serve", "--expiry", "soon"}, 2, "--expiry"},
		{[]string{"serve", "--group-commit", "maybe"}, 2, "--group-commit"},
		{[]string{"serve", "--http", "nonsense"}, 2, "--http"},
		{[]string{"serve", "--nats-url", "nats://127.0.0.1:1", "--listen", ":0"}, 2, "not with --nats-url"},
		{[]string{"serve", "extra"}, 2, "unexpected argument extra"},
		{[]string{"rebuild", "nonsense"}, 2, "wallets"},
		{[]string{"audit", "not-an-id"}, 2, "is not an envelope id"},
		{[]string{"audit"}, 2, "expected \"<envelope_id>\""},
		{[]string{"reconcile", "--since", "yesterday"}, 2, "RFC 3339"},
		{[]string{"version"}, 0, "hongbao"},
		{[]string{"version", "--json"}, 0, `"version"`},
		{[]string{"completion", "bash"}, 0, "complete -C"},
		{[]string{"completion", "tcsh"}, 2, "bash"},
	}
	for _, c := range cases {
		var out, errOut syncBuffer
		code := run(context.Background(), c.args, &out, &errOut)
		if code != c.code || !strings.Contains(out.String()+errOut.String(), c.want) {
			t.Errorf("hongbao %v: exit %d, want %d; output:\n%s%s", c.args, code, c.code, out.String(), errOut.String())
		}
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serveUntil runs `hongbao serve args` until the test is done with it.
// It connects with opts (credentials); during, if not nil, runs once the
// wrap was served, while the service still runs.
func serveUntil(t *testing.T, args []string, url string, during func(), opts ...nats.Option) (stderr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, append([]string{"serve"}, args...), &syncBuffer{}, &errOut) }()

	var nc *nats.Conn
	natstest.Eventually(t, 20*time.Second, func() error {
		var err error
		if nc == nil {
			if nc, err = nats.Connect(url, opts...); err != nil {
				return err
			}
		}
		m, err := nc.Request("hongbao.wrap", []byte(`{"request_id":"r1","sender":"alice","kind":"equal","total":200,"count":2}`), time.Second)
		if err != nil {
			return err
		}
		if !strings.Contains(string(m.Data), `"state":"wrapped"`) {
			return fmt.Errorf("wrap answered %s", m.Data)
		}
		return nil
	})
	nc.Close()
	if during != nil {
		during()
	}
	cancel() // as SIGINT would
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(errOut.String(), "stopped") {
			t.Fatalf("serve exited %d:\n%s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop:\n%s", errOut.String())
	}
	return errOut.String()
}

// TestServeEmbedded starts the embedded server from the repository's
// nats.conf, with its client and monitoring ports moved by --listen and
// --http (8222 may be taken), generates the credentials under <data>/auth,
// prints their paths, refuses an anonymous connection and serves a wrap over
// TCP to the client credentials.
func TestServeEmbedded(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	port := freePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	creds := filepath.Join(data, "auth", "client.creds")
	var anonymous error
	errOut := serveUntil(t, []string{"--config", "../../nats.conf", "--data", data,
		"--listen", fmt.Sprintf("127.0.0.1:%d", port), "--http", "127.0.0.1:0"},
		url, func() {
			// Served with credentials: the same server refuses anonymous.
			nc, err := nats.Connect(url, nats.Timeout(5*time.Second))
			if err == nil {
				nc.Close()
			}
			anonymous = err
		}, nats.UserCredentials(creds))
	if !strings.Contains(errOut, "monitor=http://127.0.0.1:") || strings.Contains(errOut, ":8222") {
		t.Errorf("--http did not move the monitoring port:\n%s", errOut)
	}
	if _, err := os.Stat(filepath.Join(data, "jetstream")); err != nil {
		t.Fatalf("no JetStream store under --data: %v", err)
	}
	for _, f := range []string{"client.creds", "operator.creds", "service.creds"} {
		p := filepath.Join(data, "auth", f)
		if !strings.Contains(errOut, p) {
			t.Errorf("serve did not print %s:\n%s", p, errOut)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want 0600", p, err, fi.Mode().Perm())
		}
	}
	if anonymous == nil || !strings.Contains(anonymous.Error(), "Authorization") {
		t.Errorf("anonymous connection: %v; want an authorization violation", anonymous)
	}
}

// TestServeExternal serves on an existing NATS server given by --nats-url.
func TestServeExternal(t *testing.T) {
	srv := natstest.Start(t, natstest.WithListen())
	serveUntil(t, []string{"--nats-url", srv.URL(), "--data", t.TempDir()}, srv.URL(), nil)
}

func TestServeMissingConfig(t *testing.T) {
	var errOut syncBuffer
	code := run(context.Background(), []string{"serve", "--config", filepath.Join(t.TempDir(), "absent.conf")}, &syncBuffer{}, &errOut)
	if code != exitUsage || !strings.Contains(errOut.String(), "absent.conf") {
		t.Fatalf("exit %d:\n%s", code, errOut.String())
	}
}
