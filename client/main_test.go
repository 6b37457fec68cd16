package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hongbao/hongbao/internal/app"
	"github.com/hongbao/hongbao/internal/embedded"
)

// The examples run against one real instance, started as `hongbao serve`
// starts it (an embedded server with authentication listening on a
// loopback port, internal/app on the service credentials): natsURL and
// credsFile are what an app team is given (the URL and client.creds).
var (
	natsURL   string
	credsFile string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	stop, err := startInstance()
	if err != nil {
		fmt.Fprintln(os.Stderr, "client_test: start instance:", err)
		return 1
	}
	code := m.Run()
	if err := stop(); err != nil {
		fmt.Fprintln(os.Stderr, "client_test: stop instance:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// startInstance starts the examples' instance in a temporary directory and
// returns how to stop it and remove the directory.
func startInstance() (stop func() error, err error) {
	dir, err := os.MkdirTemp("", "hongbao-client-example-")
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	conf := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte("max_payload: 1MB\njetstream { sync_interval: always }\n"), 0o600); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	srv, err := embedded.Start(ctx, embedded.Config{
		ConfigFile: conf, StoreDir: data, Listen: "127.0.0.1:0", AuthDir: filepath.Join(data, "auth"),
	})
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	nc, err := srv.Connect()
	if err != nil {
		srv.Shutdown()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	a, err := app.Start(ctx, nc, app.Config{DataDir: data})
	if err != nil {
		nc.Close()
		srv.Shutdown()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	natsURL, credsFile = srv.ClientURL(), srv.Auth().ClientCreds
	return func() error {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		err := a.Stop(sctx)
		nc.Close()
		srv.Shutdown()
		if rerr := os.RemoveAll(dir); err == nil {
			err = rerr
		}
		return err
	}, nil
}
