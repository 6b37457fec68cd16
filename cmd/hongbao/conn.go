package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/embedded"
)

// defaultNATSURL is where the tools look for a running service when no
// --nats-url (NATS_URL) is given.
const defaultNATSURL = "nats://127.0.0.1:4222"

// connFlags are the connection flags of the tools that work on a running
// service or, offline, on a stopped one's data directory (reconcile,
// audit, status, rebuild).
//
// A URL given (flag or NATS_URL) must answer: the tools never fall back
// from it to a local data directory. Without one, defaultNATSURL is tried,
// then --data is opened, which must exist. Either way one line on stderr
// says what was used.
type connFlags struct {
	NATSURL string `name:"nats-url" env:"HONGBAO_NATS_URL,NATS_URL" placeholder:"URL" help:"NATS server of the running service; it must answer. Unset: ${default_nats_url} is tried, then --data is opened."`
	Creds   string `name:"creds" env:"HONGBAO_CREDS,NATS_CREDS" placeholder:"FILE" help:"NATS credentials file (user JWT and seed) for the connection."`
	Data    string `name:"data" default:"./data" placeholder:"DIR" help:"Data directory of a stopped service, opened with an embedded server (JetStream under <data>/jetstream, read models under <data>/projections); never created."`
	Config  string `name:"config" placeholder:"FILE" help:"Embedded server configuration for --data. Unset: ./nats.conf when present, else built-in defaults equal to the repository's nats.conf."`
	Offline bool   `name:"offline" help:"Do not connect to NATS (not even to --nats-url or NATS_URL): open --data (the service must be stopped)."`
}

// dial connects to the NATS server the flags name. It returns a nil
// connection, and no error, when --offline is set or when no URL was given
// and none answers at defaultNATSURL: the caller then opens --data.
func (c *connFlags) dial(name string, stderr io.Writer) (*nats.Conn, error) {
	if c.Offline {
		return nil, nil // --offline wins over a NATS_URL in the environment
	}
	url := c.NATSURL
	if url == "" {
		url = defaultNATSURL
	}
	nc, err := embedded.Dial(url, c.Creds, nats.Name(name), nats.Timeout(2*time.Second))
	if err != nil {
		if c.NATSURL == "" {
			return nil, nil
		}
		if inner := errors.Unwrap(err); inner != nil {
			err = inner // without Dial's "connect <url>", said below
		}
		return nil, unavailablef("cannot connect to NATS at %s: %s", embedded.RedactURL(url), userMessage(err))
	}
	fmt.Fprintf(stderr, "hongbao: connected to NATS at %s\n", embedded.RedactURL(nc.ConnectedUrlRedacted()))
	return nc, nil
}

// checkData fails unless --data holds a JetStream store: an offline tool
// never creates a data directory (an empty one would "prove" that nothing
// is wrong).
func (c *connFlags) checkData() error {
	store := filepath.Join(filepath.Clean(c.Data), "jetstream")
	if _, err := os.Stat(store); err != nil {
		why := fmt.Sprintf("no service answers at %s", defaultNATSURL)
		if c.Offline {
			why = "--offline"
		}
		return unavailablef("%s, and %s holds no stopped service's data (no %s): start the service, point --nats-url (or NATS_URL) at it, or pass --data",
			why, c.Data, store)
	}
	return nil
}

// openEmbedded starts an embedded server on --data, without listeners,
// and connects to it in-process. close shuts both down.
func (c *connFlags) openEmbedded(ctx context.Context, name string, stderr io.Writer) (nc *nats.Conn, close func(), err error) {
	if err := c.checkData(); err != nil {
		return nil, nil, err
	}
	cfg := embedded.Config{ConfigFile: natsConfFile(c.Config), StoreDir: filepath.Clean(c.Data), DontListen: true}
	if dir := filepath.Join(filepath.Clean(c.Data), "auth"); dirExists(dir) {
		// The streams of a deployment with credentials live in its service
		// account: open them there (without, they would look empty).
		cfg.AuthDir = dir
	}
	srv, err := embedded.Start(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if nc, err = srv.Connect(nats.Name(name)); err != nil {
		srv.Shutdown()
		return nil, nil, err
	}
	fmt.Fprintf(stderr, "hongbao: opened the data directory %s (offline)\n", filepath.Clean(c.Data))
	return nc, func() { nc.Close(); srv.Shutdown() }, nil
}

// dirExists reports whether path is a directory.
func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
