package auth

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestEnsureModesAndIdempotence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	d1, err := Ensure(dir, prefix)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, %v", fi.Mode().Perm(), err)
	}
	before := map[string][]byte{}
	for _, f := range files() {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s has mode %v", f, fi.Mode().Perm())
		}
		before[f], _ = os.ReadFile(filepath.Join(dir, f))
	}
	for _, p := range []string{d1.ServiceCreds, d1.OperatorCreds, d1.ClientCreds} {
		if filepath.Dir(p) != dir {
			t.Fatalf("creds path %s outside %s", p, dir)
		}
	}

	d2, err := Ensure(dir, prefix)
	if err != nil {
		t.Fatal(err)
	}
	if d1.OperatorKey != d2.OperatorKey || d1.ServiceAccount != d2.ServiceAccount || d1.ClientsAccount != d2.ClientsAccount ||
		d1.ClientCreds != d2.ClientCreds || len(d2.accountJWTs) != 3 {
		t.Fatalf("second Ensure differs: %+v vs %+v", d1, d2)
	}
	for _, f := range files() {
		after, _ := os.ReadFile(filepath.Join(dir, f))
		if string(after) != string(before[f]) {
			t.Fatalf("%s rewritten by the second Ensure", f)
		}
	}

	// Credentials of the first call work against a server configured by
	// the second.
	ns := startServer(t, d2, t.TempDir())
	nc, err := nats.Connect(ns.ClientURL(), nats.UserCredentials(d1.ClientCreds))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}

func TestEnsureRefusesIncompleteDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	if _, err := Ensure(dir, prefix); err != nil {
		t.Fatal(err)
	}
	creds, _ := os.ReadFile(filepath.Join(dir, ClientCredsFile))
	if err := os.Remove(filepath.Join(dir, OperatorCredsFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(dir, prefix); !errors.Is(err, ErrIncomplete) {
		t.Fatalf("Ensure on an incomplete directory: %v, want ErrIncomplete", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, ClientCredsFile))
	if string(after) != string(creds) {
		t.Fatal("live credentials were regenerated")
	}
	if _, err := os.Stat(filepath.Join(dir, OperatorCredsFile)); err == nil {
		t.Fatal("missing file silently regenerated")
	}
}

func TestEnsureRefusesLooseModesAndOtherPrefix(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "auth")
	if _, err := Ensure(dir, prefix); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(dir, "other"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("other prefix: %v, want ErrInvalid", err)
	}
	if err := os.Chmod(filepath.Join(dir, "HONGBAO.nk"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(dir, prefix); !errors.Is(err, ErrInsecure) {
		t.Fatalf("world-readable seed: %v, want ErrInsecure", err)
	}
	if _, err := Ensure(t.TempDir(), "bad.>"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("wildcard prefix: %v, want ErrInvalid", err)
	}
}

func TestConfigureServerRefusesOtherAuth(t *testing.T) {
	d, err := Ensure(t.TempDir(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{Users: []*server.User{{Username: "u", Password: "p"}}}
	if err := d.ConfigureServer(opts); !errors.Is(err, ErrInvalid) {
		t.Fatalf("mixed auth: %v, want ErrInvalid", err)
	}
}

// legacyStore writes a stream with n messages the way a version without
// authentication did (account $G) and stops the server.
func legacyStore(t *testing.T, n int) string {
	t.Helper()
	store := t.TempDir()
	ns := startServer(t, nil, store)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: "ENVELOPES", Subjects: []string{"envelope.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if _, err := js.Publish(ctx(t), "envelope.e1", []byte("old")); err != nil {
			t.Fatal(err)
		}
	}
	nc.Close()
	ns.Shutdown()
	ns.WaitForShutdown()
	return store
}

func TestConfigureServerReportsLegacyStore(t *testing.T) {
	store := legacyStore(t, 2)
	d, err := Ensure(t.TempDir(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{JetStream: true, StoreDir: store}
	if err := d.ConfigureServer(opts); !errors.Is(err, ErrLegacyStore) {
		t.Fatalf("legacy store: %v, want ErrLegacyStore", err)
	}
	if opts.TrustedOperators != nil {
		t.Fatal("options changed despite the error")
	}
}

func TestMigrateLegacyStoreKeepsStreams(t *testing.T) {
	store := legacyStore(t, 4)
	d, err := Ensure(t.TempDir(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.MigrateLegacyStore(store); err != nil {
		t.Fatal(err)
	}
	ns := startServer(t, d, store)
	nc, err := nats.Connect(ns.ClientURL(), nats.UserCredentials(d.ServiceCreds))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	intact(t, js, "ENVELOPES", "envelope.>", 4, 0)
	if _, err := js.Publish(ctx(t), "envelope.e2", []byte("new")); err != nil {
		t.Fatal(err)
	}
	intact(t, js, "ENVELOPES", "envelope.>", 5, 0)
}

// TestInProcessPermissionNeedsCreds: the service's in-process connection
// (no TCP listener) authenticates like any other.
func TestInProcessPermissionNeedsCreds(t *testing.T) {
	d, err := Ensure(t.TempDir(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	opts := &server.Options{ServerName: "inproc", DontListen: true, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true}
	if err := d.ConfigureServer(opts); err != nil {
		t.Fatal(err)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("not ready")
	}
	// Over the in-process pipe the refusal takes about 10s to surface (the
	// connect timeout does not bound it); the refusal is what matters.
	if nc, err := nats.Connect("", nats.InProcessServer(ns)); err == nil {
		nc.Close()
		t.Fatal("anonymous in-process connection accepted")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.UserCredentials(d.ServiceCreds))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.AccountInfo(ctx(t)); err != nil {
		t.Fatalf("service account has no JetStream: %v", err)
	}
}
