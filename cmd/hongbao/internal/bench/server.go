package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/app"
	"github.com/hongbao/hongbao/service"
)

// env is the server and service under test.
type env struct {
	cfg *Config
	ns  *server.Server // nil with NATSURL
	dir string         // temporary store directory, removed at close

	app     *app.App
	svcConn *nats.Conn

	connsMu sync.Mutex
	conns   []*nats.Conn
}

// startEnv starts the embedded server and service, or checks that the
// server at NATSURL is reachable.
func startEnv(ctx context.Context, cfg *Config) (_ *env, err error) {
	e := &env{cfg: cfg}
	defer func() {
		if err != nil {
			_ = e.close()
		}
	}()
	if cfg.NATSURL != "" {
		return e, nil
	}
	if e.dir, err = os.MkdirTemp(cfg.Dir, "hongbao-bench-*"); err != nil {
		return nil, fmt.Errorf("bench: store directory: %w", err)
	}
	opts := &server.Options{
		ServerName: "hongbao-bench",
		JetStream:  true,
		StoreDir:   e.dir,
		DontListen: true,
		NoLog:      true,
		NoSigs:     true,
		SyncAlways: cfg.Sync == SyncAlways,
		// SyncDefault leaves SyncInterval 0: nats-server's own default (2m).
	}
	if e.ns, err = server.NewServer(opts); err != nil {
		return nil, fmt.Errorf("bench: nats-server: %w", err)
	}
	e.ns.Start()
	if !e.ns.ReadyForConnections(10 * time.Second) {
		return nil, errors.New("bench: nats-server not ready for connections after 10s")
	}
	if !e.ns.JetStreamEnabled() {
		return nil, errors.New("bench: nats-server started without JetStream")
	}
	if e.svcConn, err = e.connect("hongbao"); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(e.dir, "data")
	if cfg.CoreOnly {
		dataDir = ""
	}
	svcCfg := service.Config{Prefix: cfg.Prefix}
	// Group commit pays where JetStream fsyncs every message.
	svcCfg.Store.GroupCommit = e.groupCommit()
	e.app, err = app.Start(ctx, e.svcConn, app.Config{Service: svcCfg, DataDir: dataDir, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return e, nil
}

// groupCommit is whether the embedded service commits appends in groups.
func (e *env) groupCommit() bool {
	c := e.cfg
	return c.GroupCommit == "on" || (c.GroupCommit != "off" && c.Sync == SyncAlways)
}

// connect opens a new connection to the server under test; it is closed
// by close.
func (e *env) connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1)}
	url := e.cfg.NATSURL
	if e.ns != nil {
		url = ""
		opts = append(opts, nats.InProcessServer(e.ns))
	} else if e.cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(e.cfg.Creds))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("bench: connect %s: %w", redactURL(url), err)
	}
	e.connsMu.Lock()
	e.conns = append(e.conns, nc)
	e.connsMu.Unlock()
	return nc, nil
}

// close stops the service, closes every connection, shuts the server down
// and removes its store.
func (e *env) close() error {
	var err error
	if e.app != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = e.app.Stop(ctx)
		cancel()
		e.app = nil
	}
	e.connsMu.Lock()
	for _, nc := range e.conns {
		nc.Close()
	}
	e.conns = nil
	e.connsMu.Unlock()
	if e.ns != nil {
		e.ns.Shutdown()
		e.ns.WaitForShutdown()
		e.ns = nil
	}
	if e.dir != "" {
		err = errors.Join(err, os.RemoveAll(e.dir))
		e.dir = ""
	}
	return err
}

// syncSetting reports the embedded server's fsync policy.
func (e *env) syncSetting() (always bool, interval time.Duration, ok bool) {
	if e.ns == nil {
		return false, 0, false
	}
	c := e.ns.JetStreamConfig()
	if c == nil {
		return false, 0, false
	}
	return c.SyncAlways, c.SyncInterval, true
}

// redactURL hides passwords and tokens in a NATS URL list.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User("xxx")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}
