package natstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/internal/auth"
	"github.com/hongbao/hongbao/internal/embedded"
)

// Sentinel errors, wrapped in the messages of failed tests and returned by
// the in-process dialer.
var (
	// ErrStart reports a server that did not start or become ready.
	ErrStart = errors.New("natstest: server did not start")
	// ErrNoServer reports a dial while no server is running (between
	// Shutdown and Restart).
	ErrNoServer = errors.New("natstest: no server running")
)

const (
	reconnectWait   = 50 * time.Millisecond
	pollInterval    = 10 * time.Millisecond
	defaultHostname = "127.0.0.1"
)

// Option configures [Start].
type Option func(*settings)

type settings struct {
	syncInterval time.Duration // 0: sync_interval always
	listen       bool
	auth         bool
}

// WithSyncInterval sets JetStream's fsync policy. 0, the default, means
// sync_interval "always" (fsync before every acknowledgement, as in
// production); a positive d makes JetStream fsync in the background every d
// (pass 2*time.Minute for nats-server's own default, e.g. in benchmarks).
// A negative d fails the test at Start.
func WithSyncInterval(d time.Duration) Option {
	return func(s *settings) { s.syncInterval = d }
}

// WithListen makes the server also listen for TCP clients on 127.0.0.1 on a
// random port (see [Server.URL]), for CLI tests and external processes.
func WithListen() Option {
	return func(s *settings) { s.listen = true }
}

// WithAuth runs the server in operator mode with credentials generated in
// a temporary auth directory, as `hongbao serve` does (package
// internal/auth): anonymous connections are refused, [Server.Conn] and
// [Server.JetStream] authenticate as the service, and [Server.Auth] and
// [Server.ConnAs] give the other roles.
func WithAuth() Option {
	return func(s *settings) { s.auth = true }
}

// Server is a JetStream server for tests, on a fixed store directory so
// that it can be restarted. Its methods are safe for concurrent use.
type Server struct {
	base     *server.Options // template from embedded.Options; cloned for every start
	storeDir string
	url      string           // "" unless WithListen
	auth     *auth.Deployment // nil unless WithAuth

	life sync.Mutex // serialises start, Shutdown and Restart

	mu  sync.Mutex       // guards srv
	srv *embedded.Server // current server; shut down after Shutdown
}

// Start starts a JetStream server with its store in t.TempDir(), no TCP
// listener (unless [WithListen]), no logs, no signal handlers and
// sync_interval "always" (unless [WithSyncInterval]); the rest is
// nats.conf's built-in defaults (package embedded). It is shut down when
// the test ends. Start fails the test if the server does not start.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var set settings
	for _, o := range opts {
		o(&set)
	}
	if set.syncInterval < 0 {
		t.Fatalf("natstest: negative sync interval %s", set.syncInterval)
		return nil
	}

	// TempDir first: cleanups run last-in first-out, so the server is shut
	// down before its store directory is removed.
	dir := t.TempDir()
	cfg := embedded.Config{
		StoreDir:   dir,
		DontListen: !set.listen,
		Sync:       &embedded.Sync{Always: set.syncInterval == 0, Interval: set.syncInterval},
	}
	if set.listen {
		cfg.Listen = net.JoinHostPort(defaultHostname, "0")
	}
	base, err := embedded.Options(cfg)
	if err != nil {
		t.Fatalf("natstest: %v", err)
		return nil
	}
	base.ServerName = "natstest"
	base.HTTPPort, base.HTTPSPort, base.ProfPort = 0, 0, 0 // no monitoring port to collide on

	s := &Server{base: base, storeDir: dir}
	if set.auth {
		if s.auth, err = embedded.ConfigureAuth(base, filepath.Join(t.TempDir(), "auth"), ""); err != nil {
			t.Fatalf("natstest: %v", err)
			return nil
		}
	}
	if err := s.start(); err != nil {
		t.Fatalf("%v", err)
		return nil
	}
	t.Cleanup(s.Shutdown)
	return s
}

// start starts a new server from s.base and makes it current.
func (s *Server) start() error {
	s.life.Lock()
	defer s.life.Unlock()

	srv, err := embedded.StartAuth(context.Background(), s.base.Clone(), s.auth, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrStart, err)
	}
	if !s.base.DontListen && s.url == "" {
		// Keep the random port for later restarts, so URL stays valid.
		addr, ok := srv.NATS().Addr().(*net.TCPAddr)
		if !ok {
			srv.Shutdown()
			return fmt.Errorf("%w: no TCP listener", ErrStart)
		}
		s.base.Port = addr.Port
		s.url = "nats://" + net.JoinHostPort(s.base.Host, strconv.Itoa(addr.Port))
	}

	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	return nil
}

// current returns the current server, which may be shut down, or nil
// before the first start.
func (s *Server) current() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv == nil {
		return nil
	}
	return s.srv.NATS()
}

// Shutdown stops the server and waits until it has stopped, without
// restarting it: an outage, until [Server.Restart]. Connections from
// [Server.Conn] keep trying to reconnect meanwhile. Calling it on a stopped
// server does nothing.
func (s *Server) Shutdown() {
	s.life.Lock()
	defer s.life.Unlock()
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
	}
}

// Restart shuts the server down (if it is running) and starts a new one on
// the same store directory with the same options and, with [WithListen],
// the same port. JetStream recovers its streams from disk. Connections
// from [Server.Conn] reconnect to the new server by themselves. Restart
// fails the test if the new server does not start.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Shutdown()
	if err := s.start(); err != nil {
		t.Fatalf("natstest: restart: %v", err)
	}
}

// StoreDir returns the JetStream store directory (nats-server keeps its
// files in its "jetstream" subdirectory).
func (s *Server) StoreDir() string {
	return s.storeDir
}

// URL returns the client URL ("nats://127.0.0.1:port") when the server was
// started [WithListen], "" otherwise. It does not change across restarts.
func (s *Server) URL() string {
	return s.url
}

// NATS returns the current nats-server; after [Server.Restart] that is the
// new one.
func (s *Server) NATS() *server.Server {
	return s.current()
}

// Auth returns the deployment of a server started [WithAuth] (its
// ClientCreds, OperatorCreds and ServiceCreds), nil otherwise.
func (s *Server) Auth() *auth.Deployment {
	return s.auth
}

// Conn returns an in-process client connection, closed when the test ends.
// It reconnects without limit (50ms apart) and, through a dialer that
// always targets the current server, also across [Server.Restart]. With
// [WithAuth] it authenticates as the service.
func (s *Server) Conn(t testing.TB) *nats.Conn {
	t.Helper()
	creds := ""
	if s.auth != nil {
		creds = s.auth.ServiceCreds
	}
	return s.ConnAs(t, creds)
}

// ConnAs is [Server.Conn] authenticating with the credentials file creds
// ("" connects anonymously); it fails the test if the connection is
// refused. See [Server.Connect] to expect a refusal.
func (s *Server) ConnAs(t testing.TB, creds string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := s.Connect(creds, opts...)
	if err != nil {
		t.Fatalf("natstest: %v", err)
		return nil
	}
	t.Cleanup(nc.Close)
	return nc
}

// Connect opens an in-process connection like [Server.ConnAs], with opts
// applied last, and returns the error of a refused one; the caller closes
// it.
func (s *Server) Connect(creds string, opts ...nats.Option) (*nats.Conn, error) {
	all := []nats.Option{
		nats.Name("natstest"),
		nats.SetCustomDialer(inProcessDialer{s: s}),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(reconnectWait),
	}
	if creds != "" {
		all = append(all, nats.UserCredentials(creds))
	}
	nc, err := nats.Connect("", append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("natstest: connect: %w", err)
	}
	return nc, nil
}

// JetStream returns a JetStream context on a new [Server.Conn].
func (s *Server) JetStream(t testing.TB) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(s.Conn(t))
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
		return nil
	}
	return js
}

// inProcessDialer is a nats.CustomDialer that ignores the address and opens
// an in-process pipe to whichever server is current, so that connections
// reconnect across Restart.
type inProcessDialer struct {
	s *Server
}

var _ nats.CustomDialer = inProcessDialer{}

// Dial returns an in-process connection to the current server.
func (d inProcessDialer) Dial(_, _ string) (net.Conn, error) {
	ns := d.s.current()
	if ns == nil || !ns.Running() {
		return nil, ErrNoServer
	}
	conn, err := ns.InProcessConn()
	if err != nil {
		// The server was shut down between the check and the call.
		return nil, fmt.Errorf("%w: %w", ErrNoServer, err)
	}
	return conn, nil
}

// SkipTLSHandshake tells nats.go that the pipe needs no TLS.
func (inProcessDialer) SkipTLSHandshake() bool { return true }

// Eventually calls cond every 10ms until it returns nil, and fails the test
// with cond's last error if that does not happen within timeout. cond is
// called at least once. Like t.Fatalf, call it from the test goroutine.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: condition not met after %s: %v", timeout, err)
			return
		}
		<-tick.C
	}
}
