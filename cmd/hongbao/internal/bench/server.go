package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/app"
	"github.com/hongbao/hongbao/internal/embedded"
	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/service"
)

// env is the server and service under test.
type env struct {
	cfg *Config
	srv *embedded.Server // nil with NATSURL
	dir string           // temporary store directory, removed at close

	app     *app.App
	svcConn *nats.Conn
	// signer is the embedded instance's key (nil with NATSURL): the
	// preload seals its events with it, as the service seals its own, so
	// the instance's views credit them rather than park them as forged.
	signer *seal.Signer

	connsMu sync.Mutex
	conns   []*nats.Conn
}

// startEnv starts the embedded server and service, or checks that the
// server at NATSURL is reachable. The embedded server is configured as
// serve configures it (Config.ConfigFile, or the built-in nats.conf
// defaults), with its store in a temporary directory, no listener, and
// the fsync policy of Config.Sync.
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
	e.srv, err = embedded.Start(ctx, embedded.Config{
		ConfigFile: cfg.ConfigFile,
		StoreDir:   e.dir,
		DontListen: true,
		// SyncDefault: nats-server's own default interval (2m).
		Sync: &embedded.Sync{Always: cfg.Sync == SyncAlways},
	})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
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
	if e.signer, _, err = seal.Generate(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	e.app, err = app.Start(ctx, e.svcConn, app.Config{Service: svcCfg, DataDir: dataDir, Logger: cfg.Logger, Signer: e.signer})
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
	var nc *nats.Conn
	var err error
	if e.srv != nil {
		nc, err = e.srv.Connect(nats.Name(name), nats.MaxReconnects(-1))
	} else {
		nc, err = embedded.Dial(e.cfg.NATSURL, e.cfg.Creds, nats.Name(name), nats.MaxReconnects(-1))
	}
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
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
	if e.srv != nil {
		e.srv.Shutdown()
		e.srv = nil
	}
	if e.dir != "" {
		err = errors.Join(err, os.RemoveAll(e.dir))
		e.dir = ""
	}
	return err
}

// syncSetting reports the embedded server's fsync policy.
func (e *env) syncSetting() (always bool, interval time.Duration, ok bool) {
	if e.srv == nil {
		return false, 0, false
	}
	always, interval = e.srv.SyncInterval()
	return always, interval, true
}
