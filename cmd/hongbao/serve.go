package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/internal/app"
	"github.com/hongbao/hongbao/internal/embedded"
	"github.com/hongbao/hongbao/service"
)

const serveSynopsis = `Runs the hongbao micro service. By default it starts an embedded NATS server
configured by nats.conf (JetStream, sync_interval: always) with its store under
--data, and serves on it; clients connect to the listen address in nats.conf
(127.0.0.1:4222). With --nats-url it connects to an existing NATS server with
JetStream instead. SIGINT or SIGTERM stops taking requests, finishes the ones in
flight, and shuts down.`

func runServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlags("serve", serveSynopsis, stderr)
	def := envelope.DefaultLimits()
	var (
		confFile   = fs.String("config", "nats.conf", "embedded NATS server configuration file; built-in defaults equal to the repository's nats.conf when the file is absent and the flag is not set")
		dataDir    = fs.String("data", "./data", "data directory: JetStream (embedded server) under <data>/jetstream, read models under <data>/projections")
		listen     = fs.String("listen", "", "client listen address of the embedded server (host:port), overriding nats.conf")
		natsURL    = fs.String("nats-url", "", "connect to this NATS server instead of starting an embedded one")
		creds      = fs.String("creds", "", "NATS credentials file for --nats-url")
		name       = fs.String("name", "hongbao", "micro service name")
		prefix     = fs.String("prefix", "hongbao", "subject prefix of the endpoints (hongbao.wrap, hongbao.open.<id>, ...)")
		payTO      = fs.Duration("pay-timeout", def.PayTimeout, "an envelope not paid within this time is cancelled")
		expiry     = fs.Duration("expiry", def.Expiry, "a live envelope expires this long after payment; the rest is refunded")
		maxCount   = fs.Int("max-count", def.MaxCount, "most shares per envelope")
		maxShare   = fs.Int64("max-share", def.MaxShare, "largest share in fen")
		cacheSize  = fs.Int("cache-size", 100_000, "envelopes kept in memory")
		maxQueue   = fs.Int("max-queue", 20_000, "requests waiting per envelope before it answers busy")
		group      = fs.String("group-commit", "auto", "append the events of different envelopes waiting at once as one atomic batch, one fsync: auto (on when the embedded server syncs always), on, off")
		replicas   = fs.Int("replicas", 1, "stream replicas (3 in a cluster)")
		logLevel   = fs.String("log-level", "info", "log level: debug, info, warn, error")
		grace      = fs.Duration("shutdown-grace", 15*time.Second, "how long a stop waits for requests in flight")
		reconEvery = fs.Duration("reconcile-every", 10*time.Minute, "run the reconciler this often and report its last result in 'hongbao status' (0: never)")
	)
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	limits := envelope.Limits{MinShare: 1, MaxShare: *maxShare, MaxCount: *maxCount, PayTimeout: *payTO, Expiry: *expiry}
	if err := limits.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	if _, err := groupCommit(*group, false); err != nil {
		return err
	}
	var nc *nats.Conn
	var srv *embedded.Server
	syncAlways := false
	if *natsURL != "" {
		if nc, err = embedded.Dial(*natsURL, *creds, nats.Name("hongbao"), nats.MaxReconnects(-1)); err != nil {
			return err
		}
	} else {
		file := natsConfFile(*confFile, flagSet(fs.Visit, "config"))
		if file == "" {
			log.Warn("no nats.conf here; using the built-in defaults", "looked_for", *confFile)
		}
		srv, err = embedded.Start(ctx, embedded.Config{ConfigFile: file, StoreDir: filepath.Clean(*dataDir), Listen: *listen, Logger: log})
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		if nc, err = srv.Connect(nats.Name("hongbao")); err != nil {
			return err
		}
		always, interval := srv.SyncInterval()
		syncAlways = always
		log.Info("embedded NATS server ready", "clients", srv.ClientURL(), "store", srv.StoreDir(), "sync_always", always, "sync_interval", interval)
	}
	defer nc.Close()

	svcCfg := service.Config{Name: *name, Prefix: *prefix, Limits: limits, CacheSize: *cacheSize, MaxQueue: *maxQueue}
	svcCfg.Store.GroupCommit, _ = groupCommit(*group, syncAlways)
	inst, err := app.Start(ctx, nc, app.Config{
		Service: svcCfg,
		DataDir: *dataDir, Replicas: *replicas, ReconcileEvery: *reconEvery, Logger: log,
	})
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("stopping: finishing requests in flight", "grace", *grace)
	stopCtx, cancel := context.WithTimeout(context.Background(), *grace)
	defer cancel()
	err = inst.Stop(stopCtx) // before the drain: the projectors and the dispatcher read on nc
	if derr := nc.Drain(); derr != nil && !errors.Is(derr, nats.ErrConnectionClosed) {
		err = errors.Join(err, derr)
	}
	log.Info("stopped")
	return err
}

// natsConfFile returns the embedded server's configuration file to load:
// path, or "" (the built-in defaults, equal to the repository's nats.conf)
// when path does not exist and was not given explicitly. An explicit path
// that does not exist is returned as it is, so that loading it fails.
func natsConfFile(path string, explicit bool) string {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && !explicit {
		return ""
	}
	return path
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(visit func(func(*flag.Flag)), name string) bool {
	set := false
	visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
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
	return false, fmt.Errorf("--group-commit %q: want auto, on or off", v)
}
