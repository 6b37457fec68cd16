package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/app"
	"github.com/hongbao/hongbao/internal/auth"
	"github.com/hongbao/hongbao/internal/embedded"
	"github.com/hongbao/hongbao/risk"
	"github.com/hongbao/hongbao/service"
)

// serveCmd runs an instance.
type serveCmd struct {
	Config     string        `name:"config" placeholder:"FILE" help:"Embedded NATS server configuration file. Unset: ./nats.conf when present, else built-in defaults equal to the repository's nats.conf; a file given must exist."`
	Data       string        `name:"data" default:"./data" placeholder:"DIR" help:"Data directory: JetStream (embedded server) under <data>/jetstream, read models under <data>/projections."`
	Listen     string        `name:"listen" placeholder:"HOST:PORT" help:"Client listen address of the embedded server, overriding nats.conf (port 0: any free port)."`
	HTTP       string        `name:"http" placeholder:"HOST:PORT" help:"Monitoring (HTTP) address of the embedded server, overriding nats.conf's http (port 0: any free port; off: none)."`
	NATSURL    string        `name:"nats-url" env:"HONGBAO_NATS_URL,NATS_URL" placeholder:"URL" help:"Connect to this NATS server (with JetStream) instead of starting an embedded one."`
	Creds      string        `name:"creds" env:"HONGBAO_CREDS,NATS_CREDS" placeholder:"FILE" help:"NATS credentials file for --nats-url."`
	Name       string        `name:"name" default:"hongbao" help:"Micro service name."`
	Prefix     string        `name:"prefix" default:"hongbao" help:"Subject prefix of the endpoints (hongbao.wrap, hongbao.open.<id>, ...)."`
	PayTimeout time.Duration `name:"pay-timeout" default:"${pay_timeout}" help:"An envelope not paid within this time is cancelled."`
	Expiry     time.Duration `name:"expiry" default:"${expiry}" help:"A live envelope expires this long after payment; the rest is refunded."`
	MaxCount   int           `name:"max-count" default:"${max_count}" help:"Most shares per envelope."`
	MaxShare   int64         `name:"max-share" default:"${max_share}" help:"Largest share in fen."`
	CacheSize  int           `name:"cache-size" default:"100000" help:"Envelopes kept in memory."`
	MaxQueue   int           `name:"max-queue" default:"20000" help:"Requests waiting per envelope before it answers busy."`
	Group      string        `name:"group-commit" default:"auto" enum:"auto,on,off" help:"Append the events of different envelopes waiting at once as one atomic batch, one fsync: auto (on when the embedded server syncs always), on, off."`
	Replicas   int           `name:"replicas" default:"1" help:"Stream replicas (3 in a cluster)."`
	LogLevel   string        `name:"log-level" default:"info" enum:"debug,info,warn,error" help:"Log level: debug, info, warn, error."`
	Grace      time.Duration `name:"shutdown-grace" default:"15s" help:"How long a stop waits for requests in flight."`
	ReconEvery time.Duration `name:"reconcile-every" default:"10m" help:"Run the reconciler this often and report its last result in 'hongbao status' (0: never)."`

	Auth          bool   `name:"auth" default:"true" negatable:"" help:"Embedded server: require the credentials generated under <data>/auth (client, operator, service); --no-auth accepts anonymous connections (development only)."`
	MaxInFlight   int    `name:"max-inflight" default:"20000" help:"Requests in flight at once before new ones answer 503 overloaded (-1: no limit)."`
	OpenAdmission bool   `name:"open-admission" help:"Answer opens beyond the shares an envelope has left with 429 busy from memory instead of queueing them."`
	Risk          bool   `name:"risk" default:"true" negatable:"" help:"Risk controls: the operators' blocklist (hongbao risk) and per-user and per-sender rate limits."`
	RiskWrap      string `name:"risk-wrap-limit" default:"${risk_wrap_limit}" help:"Wraps per sender: <count>/<duration>, or off."`
	RiskOpen      string `name:"risk-open-limit" default:"${risk_open_limit}" help:"Opens per user: <count>/<duration>, or off."`
	RiskShake     string `name:"risk-shake-limit" default:"${risk_shake_limit}" help:"Shakes per user: <count>/<duration>, or off."`
	RiskTracked   int    `name:"risk-max-tracked" default:"100000" help:"Users and senders each limit remembers (memory bound)."`
}

// riskConfig is the risk controls' configuration from the flags; nil when
// they are off.
func (c *serveCmd) riskConfig() (*risk.Config, error) {
	if !c.Risk {
		return nil, nil
	}
	cfg := &risk.Config{MaxTracked: c.RiskTracked}
	for _, l := range []struct {
		flag, value string
		dst         *risk.Limit
	}{{"--risk-wrap-limit", c.RiskWrap, &cfg.WrapLimit}, {"--risk-open-limit", c.RiskOpen, &cfg.OpenLimit}, {"--risk-shake-limit", c.RiskShake, &cfg.ShakeLimit}} {
		v, err := risk.ParseLimit(l.value)
		if err != nil {
			return nil, usageErrorf("%s %s: want <count>/<duration>, e.g. 20/1s, or off", l.flag, l.value)
		}
		*l.dst = v
	}
	return cfg, nil
}

func (*serveCmd) Help() string {
	return `Runs the hongbao micro service. By default it starts an embedded NATS server
configured by nats.conf (JetStream, sync_interval: always) with its store under
--data, and serves on it; clients connect to the listen address in nats.conf
(127.0.0.1:4222, or --listen), its monitoring port is nats.conf's http
(127.0.0.1:8222, or --http). With --nats-url it connects to an existing NATS
server with JetStream instead. SIGINT or SIGTERM stops taking requests,
finishes the ones in flight, and shuts down.`
}

func (c *serveCmd) Run(e *runEnv) error {
	ctx, stderr := e.ctx, e.stderr
	log, err := newLogger(stderr, c.LogLevel)
	if err != nil {
		return err
	}
	limits := envelope.Limits{MinShare: 1, MaxShare: c.MaxShare, MaxCount: c.MaxCount, PayTimeout: c.PayTimeout, Expiry: c.Expiry}
	if err := validateLimits(limits); err != nil {
		return err
	}
	if _, err := groupCommit(c.Group, false); err != nil {
		return err
	}
	riskCfg, err := c.riskConfig()
	if err != nil {
		return err
	}
	var nc *nats.Conn
	var srv *embedded.Server
	syncAlways := false
	if c.NATSURL != "" {
		if c.Listen != "" || c.HTTP != "" {
			return usageErrorf("--listen and --http are the embedded server's, not with --nats-url")
		}
		if nc, err = embedded.Dial(c.NATSURL, c.Creds, nats.Name("hongbao"), nats.MaxReconnects(-1)); err != nil {
			return unavailable(err)
		}
		log.Info("connected to NATS", "url", embedded.RedactURL(nc.ConnectedUrlRedacted()))
	} else {
		file := natsConfFile(c.Config)
		if file == "" {
			log.Warn("no nats.conf here; using the built-in defaults")
		}
		opts, err := embedded.Options(embedded.Config{ConfigFile: file, StoreDir: filepath.Clean(c.Data), Listen: c.Listen, Logger: log})
		if err != nil {
			return err
		}
		if err := setMonitor(opts, c.HTTP); err != nil {
			return err
		}
		var d *auth.Deployment
		if c.Auth {
			if d, err = embedded.ConfigureAuth(opts, filepath.Join(filepath.Clean(c.Data), "auth"), c.Prefix); err != nil {
				if errors.Is(err, auth.ErrLegacyStore) {
					return usageErrorf("%s holds streams written before authentication: stop here and run `hongbao auth migrate --data %s` once (or serve --no-auth)", c.Data, c.Data)
				}
				return err
			}
		} else {
			log.Warn("authentication is off (--no-auth): any connection may append events or delete the streams; for development only")
		}
		if srv, err = embedded.StartAuth(ctx, opts, d, log); err != nil {
			return err
		}
		if d != nil {
			fmt.Fprintf(stderr, "hongbao: credentials (anonymous connections are refused):\n  client   %s\n  operator %s\n  service  %s\n",
				d.ClientCreds, d.OperatorCreds, d.ServiceCreds)
		}
		defer srv.Shutdown()
		if nc, err = srv.Connect(nats.Name("hongbao")); err != nil {
			return err
		}
		always, interval := srv.SyncInterval()
		syncAlways = always
		monitor := "off"
		if a := srv.NATS().MonitorAddr(); a != nil {
			monitor = "http://" + a.String()
		}
		log.Info("embedded NATS server ready", "clients", srv.ClientURL(), "monitor", monitor, "store", srv.StoreDir(), "sync_always", always, "sync_interval", interval)
	}
	defer nc.Close()

	svcCfg := service.Config{Name: c.Name, Prefix: c.Prefix, Limits: limits, CacheSize: c.CacheSize, MaxQueue: c.MaxQueue,
		MaxInFlight: c.MaxInFlight, OpenAdmission: c.OpenAdmission}
	svcCfg.Store.GroupCommit, _ = groupCommit(c.Group, syncAlways)
	inst, err := app.Start(ctx, nc, app.Config{
		Service: svcCfg,
		DataDir: c.Data, Replicas: c.Replicas, ReconcileEvery: c.ReconEvery, Logger: log, Risk: riskCfg,
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("stopping: finishing requests in flight", "grace", c.Grace)
	stopCtx, cancel := context.WithTimeout(context.Background(), c.Grace)
	defer cancel()
	err = inst.Stop(stopCtx) // before the drain: the projectors and the dispatcher read on nc
	if derr := nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
		err = errors.Join(err, derr)
	}
	log.Info("stopped")
	return err
}

// validateLimits checks the envelope limits and says what is wrong in
// terms of the flags.
func validateLimits(l envelope.Limits) error {
	switch {
	case l.MaxShare < l.MinShare || l.MaxShare > events.HardMaxShare:
		return usageErrorf("--max-share %d: want 1 to %d fen", l.MaxShare, events.HardMaxShare)
	case l.MaxCount < 1 || l.MaxCount > events.HardMaxCount:
		return usageErrorf("--max-count %d: want 1 to %d", l.MaxCount, events.HardMaxCount)
	case l.PayTimeout <= 0:
		return usageErrorf("--pay-timeout %s: must be positive", l.PayTimeout)
	case l.Expiry <= 0:
		return usageErrorf("--expiry %s: must be positive", l.Expiry)
	}
	if err := l.Validate(); err != nil {
		return usageErrorf("invalid envelope limits: %s", userMessage(err))
	}
	return nil
}

// natsConfFile returns the embedded server's configuration file to load:
// path when given (loading fails if it does not exist); else nats.conf in
// the working directory when present, or "" (the built-in defaults, equal
// to the repository's nats.conf).
func natsConfFile(path string) string {
	if path != "" {
		return path
	}
	if _, err := os.Stat("nats.conf"); err != nil {
		return ""
	}
	return "nats.conf"
}

// setMonitor applies --http to the embedded server's options: "" keeps the
// configuration's, "off" turns monitoring off, host:port moves it (port 0:
// any free port).
func setMonitor(opts *server.Options, addr string) error {
	switch addr {
	case "":
		return nil
	case "off":
		opts.HTTPHost, opts.HTTPPort, opts.HTTPSPort = "", 0, 0
		return nil
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--http %q: want host:port or off", addr)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return usageErrorf("--http %q: invalid port", addr)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "0.0.0.0"
	}
	opts.HTTPHost, opts.HTTPPort, opts.HTTPSPort = host, port, 0
	return nil
}

// groupCommit reads --group-commit: auto is on exactly when JetStream
// fsyncs every message (syncAlways), where one fsync per batch pays; with
// its default interval single appends are faster.
func groupCommit(v string, syncAlways bool) (bool, error) {
	switch v {
	case "auto":
		return syncAlways, nil
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, usageErrorf("--group-commit %q: want auto, on or off", v)
}
