package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/client"
	"github.com/hongbao/hongbao/internal/app"
	"github.com/hongbao/hongbao/internal/embedded"
)

// TestServePermissionFreshDataDir assembles an instance as `hongbao serve`
// does (embedded server from a nats.conf, with AuthDir
// <data>/auth, internal/app on Server.Connect): on a fresh data directory
// the credentials appear under <data>/auth with owner-only modes, an
// anonymous `nats req hongbao.wrap` is refused, the same with
// client.creds is answered.
func TestServePermissionFreshDataDir(t *testing.T) {
	data := t.TempDir()
	ctx := context.Background()
	// nats.conf's settings minus its fixed ports, which parallel tests
	// would contend for.
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte("max_payload: 1MB\njetstream { sync_interval: always }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := embedded.Start(ctx, embedded.Config{
		ConfigFile: conf, StoreDir: data, Listen: "127.0.0.1:0",
		AuthDir: filepath.Join(data, "auth"),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	d := srv.Auth()
	for _, p := range []string{d.ClientCreds, d.OperatorCreds, d.ServiceCreds} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 || filepath.Dir(p) != filepath.Join(data, "auth") {
			t.Fatalf("%s: %v %v", p, fi, err)
		}
	}
	nc, err := srv.Connect(nats.Name("hongbao"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	a, err := app.Start(ctx, nc, app.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := a.Stop(sctx); err != nil {
			t.Error(err)
		}
	}()

	if anon, err := nats.Connect(srv.ClientURL()); err == nil {
		anon.Close()
		t.Fatal("anonymous connection accepted")
	}
	c, err := client.Connect(srv.ClientURL(), d.ClientCreds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	w, err := c.Wrap(cctx, client.WrapRequest{RequestID: "c-1", Sender: "alice", Kind: client.Lucky, Total: 10000, Count: 3})
	if err != nil || w.State != client.StateWrapped {
		t.Fatalf("wrap with client.creds: %+v (%v)", w, err)
	}
}
