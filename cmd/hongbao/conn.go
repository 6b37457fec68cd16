package main

import (
	"context"
	"flag"
	"path/filepath"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/embedded"
)

// defaultNATSURL is where the tools look for a running service.
const defaultNATSURL = "nats://127.0.0.1:4222"

// connFlags are the connection flags of the tools that work on a running
// service or, offline, on a stopped one's data directory (reconcile,
// audit, status, rebuild): the NATS server at --nats-url, or --data opened
// with an embedded server configured by --config. Each command decides
// when to fall back from one to the other.
type connFlags struct {
	natsURL, data, config string
	offline               bool
}

// register defines the flags; urlUsage says what the command does when
// --nats-url does not answer.
func (c *connFlags) register(fs *flag.FlagSet, urlUsage string) {
	fs.StringVar(&c.natsURL, "nats-url", defaultNATSURL, urlUsage)
	fs.StringVar(&c.data, "data", "./data", "data directory of a stopped service, opened with an embedded server (JetStream under <data>/jetstream, read models under <data>/projections)")
	fs.StringVar(&c.config, "config", "nats.conf", "embedded server configuration for --data (built-in defaults when the file is absent)")
	fs.BoolVar(&c.offline, "offline", false, "do not try --nats-url: open --data (the service must be stopped)")
}

// openEmbedded starts an embedded server on --data, without listeners,
// and connects to it in-process. close shuts both down.
func (c *connFlags) openEmbedded(ctx context.Context, name string) (nc *nats.Conn, close func(), err error) {
	srv, err := embedded.Start(ctx, embedded.Config{ConfigFile: natsConfFile(c.config, false), StoreDir: filepath.Clean(c.data), DontListen: true})
	if err != nil {
		return nil, nil, err
	}
	if nc, err = srv.Connect(nats.Name(name)); err != nil {
		srv.Shutdown()
		return nil, nil, err
	}
	return nc, func() { nc.Close(); srv.Shutdown() }, nil
}
