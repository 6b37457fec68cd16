package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/auth"
)

// Sentinel errors. Errors returned by [Start] wrap one of these (and, where
// there is one, the underlying cause), so callers can use [errors.Is].
var (
	// ErrConfig reports a configuration that cannot be loaded or used.
	ErrConfig = errors.New("embedded: invalid configuration")
	// ErrStart reports a server that failed to start or to become ready.
	ErrStart = errors.New("embedded: server did not start")
)

// Defaults mirrored from the repository's nats.conf. TestDefaultsMatchNatsConf
// keeps the two in step.
const (
	defaultServerName     = "hongbao"
	defaultHost           = "127.0.0.1"
	defaultPort           = 4222
	defaultHTTPHost       = "127.0.0.1"
	defaultHTTPPort       = 8222
	defaultMaxPayload     = 1 << 20 // 1MB
	defaultStoreDir       = "./data/jetstream"
	defaultMaxMemoryStore = 256 << 20 // 256MB
	defaultMaxFileStore   = 20 << 30  // 20GB

	// natsDefaultSyncInterval is nats-server's own JetStream fsync
	// interval, used when sync_interval is not set.
	natsDefaultSyncInterval = 2 * time.Minute

	// readyTimeout bounds how long Start waits for the server to accept
	// connections.
	readyTimeout = 10 * time.Second
	// readyPoll is the slice of readyTimeout between two checks of the
	// context and of fatal server errors.
	readyPoll = 50 * time.Millisecond
)

// LevelTrace is the slog level at which the server's trace output (every
// protocol message) is logged. It is only produced when the logger's handler
// is enabled for this level.
const LevelTrace = slog.LevelDebug - 4

// Config selects how the embedded server is configured.
type Config struct {
	// ConfigFile is the path of a nats.conf file. When empty, built-in
	// defaults equal to the repository's nats.conf are used.
	ConfigFile string
	// StoreDir overrides the JetStream store_dir when non-empty. As with
	// store_dir, nats-server keeps its files in a "jetstream" subdirectory
	// of this directory.
	StoreDir string
	// Listen overrides the client listen address ("host:port") when
	// non-empty. Port 0 (or -1) picks a random free port; an empty host
	// listens on all interfaces, as with net.Listen.
	Listen string
	// DontListen starts the server without any TCP listener: no client
	// port and no HTTP monitoring port. Only in-process connections
	// ([Server.Connect]) are possible. Meant for tests.
	DontListen bool
	// Sync overrides the config file's sync_interval when not nil.
	Sync *Sync
	// AuthDir, when not empty, runs the server in operator mode with the
	// deployment's credentials kept in this directory (`hongbao serve`
	// passes <data>/auth): on the first start [auth.Ensure] generates them
	// (owner-only file modes), later starts load them; anonymous
	// connections are refused, and [Server.Connect] authenticates as the
	// service. Empty (tests, by default) means no authentication.
	AuthDir string
	// AuthPrefix is the subject prefix of the contract whose request
	// subjects the service account exports; default "hongbao".
	AuthPrefix string
	// Logger receives the server's logs. Nil discards them. Debug and trace
	// output is produced only when the logger is enabled for
	// [slog.LevelDebug] or [LevelTrace] respectively.
	Logger *slog.Logger
}

// Sync is JetStream's fsync policy (nats.conf's sync_interval).
type Sync struct {
	// Always fsyncs every write before it is acknowledged
	// (sync_interval: always, the production setting).
	Always bool
	// Interval is the background fsync interval when Always is false;
	// 0 means nats-server's own default, 2 minutes.
	Interval time.Duration
}

// Server is a running in-process nats-server with JetStream enabled.
type Server struct {
	ns   *server.Server
	auth *auth.Deployment // nil without authentication

	// Settings the server was started with (after nats-server applied its
	// defaults), copied so they can be read without racing the server.
	dontListen   bool
	storeDir     string
	syncAlways   bool
	syncInterval time.Duration
}

// Start configures and starts an in-process NATS server with JetStream and
// waits until it accepts connections. ctx bounds the start-up only; once
// Start has returned, the server runs until [Server.Shutdown]. It is
// [Options] followed by [StartOptions].
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	opts, err := Options(cfg)
	if err != nil {
		return nil, err
	}
	var d *auth.Deployment
	if cfg.AuthDir != "" {
		if d, err = ConfigureAuth(opts, cfg.AuthDir, cfg.AuthPrefix); err != nil {
			return nil, err
		}
	}
	srv, err := StartOptions(ctx, opts, cfg.Logger)
	if err != nil {
		return nil, err
	}
	srv.auth = d
	return srv, nil
}

// DefaultAuthPrefix is the subject prefix used when [Config.AuthPrefix] is
// empty.
const DefaultAuthPrefix = "hongbao"

// ConfigureAuth loads (or, on first use, generates) the deployment kept in
// dir and puts opts into operator mode with it ([auth.Ensure],
// [auth.Deployment.ConfigureServer]). prefix "" means [DefaultAuthPrefix].
// Pass the deployment to [StartAuth] so that [Server.Connect]
// authenticates as the service. A store holding streams written before
// authentication is refused with an error wrapping both [ErrConfig] and
// [auth.ErrLegacyStore], naming the fix ([MigrateLegacyStore], `hongbao
// auth migrate`).
func ConfigureAuth(opts *server.Options, dir, prefix string) (*auth.Deployment, error) {
	if prefix == "" {
		prefix = DefaultAuthPrefix
	}
	d, err := auth.Ensure(dir, prefix)
	if err != nil {
		return nil, fmt.Errorf("%w: credentials in %s: %w", ErrConfig, dir, err)
	}
	if err := d.ConfigureServer(opts); err != nil {
		if errors.Is(err, auth.ErrLegacyStore) {
			return nil, fmt.Errorf("%w: %w; to keep these streams, stop every hongbao instance, back up the data directory and run `hongbao auth migrate` (embedded.MigrateLegacyStore) once", ErrConfig, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return d, nil
}

// StartAuth is [StartOptions] for options configured by [ConfigureAuth]
// with d: [Server.Connect] then authenticates as the service and
// [Server.Auth] returns d.
func StartAuth(ctx context.Context, opts *server.Options, d *auth.Deployment, log *slog.Logger) (*Server, error) {
	srv, err := StartOptions(ctx, opts, log)
	if err != nil {
		return nil, err
	}
	srv.auth = d
	return srv, nil
}

// MigrateLegacyStore moves the streams a data directory holds from before
// authentication (the global account, $G) to the service account of the
// deployment in cfg.AuthDir (generated if absent), so that a server started
// with cfg then sees them. The server must not be running. It is what
// `hongbao auth migrate` runs; it returns the directory the streams now
// live in.
func MigrateLegacyStore(cfg Config) (string, error) {
	if cfg.AuthDir == "" {
		return "", fmt.Errorf("%w: no auth directory to migrate to", ErrConfig)
	}
	opts, err := Options(cfg)
	if err != nil {
		return "", err
	}
	prefix := cfg.AuthPrefix
	if prefix == "" {
		prefix = DefaultAuthPrefix
	}
	d, err := auth.Ensure(cfg.AuthDir, prefix)
	if err != nil {
		return "", fmt.Errorf("%w: credentials in %s: %w", ErrConfig, cfg.AuthDir, err)
	}
	if err := d.MigrateLegacyStore(opts.StoreDir); err != nil {
		return "", fmt.Errorf("embedded: migrate: %w", err)
	}
	return filepath.Join(opts.StoreDir, server.JetStreamStoreDir, d.ServiceAccount), nil
}

// StartOptions starts an in-process server from options made by [Options]
// (and possibly adjusted, e.g. a port fixed for a restart) and waits until
// it accepts connections with JetStream enabled. The server owns opts from
// then on: pass a Clone to start several from one template. log receives
// the server's logs; nil discards them (opts.NoLog should then be true).
func StartOptions(ctx context.Context, opts *server.Options, log *slog.Logger) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	if log != nil && !opts.SyncAlways {
		log.Warn("JetStream sync_interval is not 'always': acknowledged writes can be lost on power failure",
			"component", "embedded", "sync_interval", opts.SyncInterval)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	// NewServer owns opts from now on and has filled in its defaults
	// (e.g. the 2 minute SyncInterval); copy what we report later.
	srv := &Server{
		ns:           ns,
		dontListen:   opts.DontListen,
		storeDir:     opts.StoreDir,
		syncAlways:   opts.SyncAlways,
		syncInterval: opts.SyncInterval,
	}
	logs := newLogAdapter(log)
	ns.SetLoggerV2(logs, logs.enabled(slog.LevelDebug), logs.enabled(LevelTrace), false)
	ns.Start()

	fail := func(err error) (*Server, error) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, err
	}
	deadline := time.Now().Add(readyTimeout)
	for {
		// The server reports fatal start-up problems (port in use,
		// unusable store directory, ...) through Fatalf and then gives up;
		// our logger records them instead of exiting the process.
		if msg := logs.fatalMessage(); msg != "" {
			return fail(fmt.Errorf("%w: %s", ErrStart, msg))
		}
		if ns.ReadyForConnections(readyPoll) {
			break
		}
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("%w: %w", ErrStart, err))
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("%w: not ready for connections after %s", ErrStart, readyTimeout))
		}
	}
	if msg := logs.fatalMessage(); msg != "" {
		return fail(fmt.Errorf("%w: %s", ErrStart, msg))
	}
	if !ns.JetStreamEnabled() {
		return fail(fmt.Errorf("%w: JetStream is not enabled", ErrStart))
	}
	return srv, nil
}

// Options builds the server options from cfg: the config file or the
// built-in defaults, then the overrides. Signal handlers are always off;
// logging is off when cfg.Logger is nil.
func Options(cfg Config) (*server.Options, error) {
	var opts *server.Options
	if cfg.ConfigFile != "" {
		o, err := server.ProcessConfigFile(cfg.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrConfig, cfg.ConfigFile, err)
		}
		opts = o
	} else {
		opts = defaultOptions()
	}

	if cfg.StoreDir != "" {
		opts.StoreDir = cfg.StoreDir
	}
	if cfg.Listen != "" {
		host, port, err := parseListen(cfg.Listen)
		if err != nil {
			return nil, err
		}
		opts.Host, opts.Port = host, port
	}
	if cfg.Sync != nil {
		opts.SyncAlways, opts.SyncInterval = cfg.Sync.Always, 0
		if !cfg.Sync.Always {
			if cfg.Sync.Interval < 0 {
				return nil, fmt.Errorf("%w: negative sync interval %s", ErrConfig, cfg.Sync.Interval)
			}
			opts.SyncInterval = cfg.Sync.Interval
			if opts.SyncInterval == 0 {
				// Spelled out: after a config file that set sync_interval,
				// nats-server would leave 0 in place (the file store still
				// uses 2m, but the server would report 0).
				opts.SyncInterval = natsDefaultSyncInterval
			}
		}
	}
	if cfg.DontListen {
		opts.DontListen = true
		opts.HTTPPort, opts.HTTPSPort, opts.ProfPort = 0, 0, 0
	}
	// The process owns signals; never let the library install handlers.
	opts.NoSigs = true
	opts.NoLog = cfg.Logger == nil
	opts.JetStream = true
	if opts.StoreDir == "" {
		// nats-server would fall back to the system temporary directory,
		// which is not a place for money.
		return nil, fmt.Errorf("%w: no JetStream store_dir", ErrConfig)
	}
	return opts, nil
}

// defaultOptions returns options equal to those the repository's nats.conf
// produces.
func defaultOptions() *server.Options {
	return &server.Options{
		ServerName:         defaultServerName,
		Host:               defaultHost,
		Port:               defaultPort,
		HTTPHost:           defaultHTTPHost,
		HTTPPort:           defaultHTTPPort,
		MaxPayload:         defaultMaxPayload,
		JetStream:          true,
		StoreDir:           defaultStoreDir,
		SyncAlways:         true,
		JetStreamMaxMemory: defaultMaxMemoryStore,
		JetStreamMaxStore:  defaultMaxFileStore,
	}
}

// parseListen parses a "host:port" override. Port 0 means a random port,
// which nats-server spells -1.
func parseListen(hp string) (string, int, error) {
	host, p, err := net.SplitHostPort(hp)
	if err != nil {
		return "", 0, fmt.Errorf("%w: listen %q: %w", ErrConfig, hp, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, fmt.Errorf("%w: listen %q: invalid port", ErrConfig, hp)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// Connect opens a client connection to the server through an in-process
// pipe; it works with DontListen. With authentication ([Config.AuthDir])
// it authenticates with the service's credentials. opts are applied after
// these (a later [nats.UserCredentials] connects as another role).
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	all := []nats.Option{nats.InProcessServer(s.ns)}
	if s.auth != nil {
		all = append(all, nats.UserCredentials(s.auth.ServiceCreds))
	}
	all = append(all, opts...)
	nc, err := nats.Connect("", all...)
	if err != nil {
		return nil, fmt.Errorf("embedded: connect: %w", err)
	}
	return nc, nil
}

// Dial connects to the NATS server at url (a comma-separated list), not an
// embedded one, authenticating with the credentials file creds when it is
// not empty; opts are applied after. Passwords and tokens in url are
// redacted in the error.
func Dial(url, creds string, opts ...nats.Option) (*nats.Conn, error) {
	if creds != "" {
		opts = append([]nats.Option{nats.UserCredentials(creds)}, opts...)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("embedded: connect %s: %w", RedactURL(url), err)
	}
	return nc, nil
}

// RedactURL hides passwords and tokens in a NATS URL list.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User("xxx")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// ClientURL returns the URL TCP clients connect to, or "" when the server
// was started with DontListen. A wildcard listen host is reported as the
// loopback address.
func (s *Server) ClientURL() string {
	if s.dontListen {
		return ""
	}
	u, err := url.Parse(s.ns.ClientURL())
	if err != nil {
		return s.ns.ClientURL()
	}
	if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsUnspecified() {
		u.Host = net.JoinHostPort("127.0.0.1", u.Port())
	}
	return u.String()
}

// Auth returns the deployment whose credentials the server requires, or
// nil when it runs without authentication. Its ClientCreds, OperatorCreds
// and ServiceCreds are the paths `hongbao serve` prints.
func (s *Server) Auth() *auth.Deployment {
	return s.auth
}

// StoreDir returns the configured JetStream store directory (after
// overrides). nats-server keeps its files in its "jetstream" subdirectory.
func (s *Server) StoreDir() string {
	return s.storeDir
}

// SyncInterval reports the running server's JetStream fsync policy: always
// is true when every write is fsynced before it is acknowledged
// (sync_interval: always); otherwise d is the background fsync interval.
func (s *Server) SyncInterval() (always bool, d time.Duration) {
	if c := s.ns.JetStreamConfig(); c != nil {
		return c.SyncAlways, c.SyncInterval
	}
	// JetStream already shut down: report what the server was started with.
	return s.syncAlways, s.syncInterval
}

// Shutdown stops the server and waits until it has stopped. It is safe to
// call more than once.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// NATS returns the underlying nats-server.
func (s *Server) NATS() *server.Server {
	return s.ns
}

// logAdapter implements server.Logger on top of an optional *slog.Logger.
// It also records the first fatal message, because nats-server's Fatalf
// normally exits the process: Start turns it into an error instead.
type logAdapter struct {
	log *slog.Logger // nil: discard

	mu    sync.Mutex
	fatal string
}

var _ server.Logger = (*logAdapter)(nil)

func newLogAdapter(l *slog.Logger) *logAdapter {
	if l != nil {
		l = l.With("component", "nats-server")
	}
	return &logAdapter{log: l}
}

func (a *logAdapter) enabled(level slog.Level) bool {
	return a.log != nil && a.log.Enabled(context.Background(), level)
}

func (a *logAdapter) logf(level slog.Level, format string, v []any, attrs ...any) {
	if !a.enabled(level) {
		return
	}
	a.log.Log(context.Background(), level, fmt.Sprintf(format, v...), attrs...)
}

func (a *logAdapter) fatalMessage() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fatal
}

// Noticef logs at slog.LevelInfo.
func (a *logAdapter) Noticef(format string, v ...any) { a.logf(slog.LevelInfo, format, v) }

// Warnf logs at slog.LevelWarn.
func (a *logAdapter) Warnf(format string, v ...any) { a.logf(slog.LevelWarn, format, v) }

// Errorf logs at slog.LevelError.
func (a *logAdapter) Errorf(format string, v ...any) { a.logf(slog.LevelError, format, v) }

// Fatalf logs at slog.LevelError with fatal=true and records the message;
// it does not exit.
func (a *logAdapter) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	a.mu.Lock()
	if a.fatal == "" {
		a.fatal = msg
	}
	a.mu.Unlock()
	if a.enabled(slog.LevelError) {
		a.log.Log(context.Background(), slog.LevelError, msg, "fatal", true)
	}
}

// Debugf logs at slog.LevelDebug.
func (a *logAdapter) Debugf(format string, v ...any) { a.logf(slog.LevelDebug, format, v) }

// Tracef logs at LevelTrace.
func (a *logAdapter) Tracef(format string, v ...any) { a.logf(LevelTrace, format, v) }
