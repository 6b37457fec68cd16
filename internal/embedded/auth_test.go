package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/internal/auth"
)

// startAuth starts a server with authentication on dir (store and auth
// under it), listening on a random port, without a monitoring port.
func startAuth(t *testing.T, dir string) (*Server, error) {
	t.Helper()
	conf := filepath.Join(t.TempDir(), "plain.conf")
	if err := os.WriteFile(conf, []byte("jetstream { sync_interval: always }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := Start(context.Background(), Config{
		ConfigFile: conf, StoreDir: dir, Listen: "127.0.0.1:0",
		AuthDir: filepath.Join(dir, "auth"),
	})
	if err == nil {
		t.Cleanup(srv.Shutdown)
	}
	return srv, err
}

// TestAuthDirGeneratesCredentialsAndRefusesAnonymous: the first start
// writes the credentials (owner-only), Connect authenticates as the
// service (JetStream works), the client credentials connect, an anonymous
// connection is refused; a restart loads the same
// credentials.
func TestAuthDirGeneratesCredentialsAndRefusesAnonymous(t *testing.T) {
	dir := t.TempDir()
	srv, err := startAuth(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	d := srv.Auth()
	if d == nil {
		t.Fatal("Auth() = nil with AuthDir")
	}
	for _, p := range []string{d.ClientCreds, d.OperatorCreds, d.ServiceCreds} {
		if filepath.Dir(p) != filepath.Join(dir, "auth") {
			t.Errorf("%s not under %s/auth", p, dir)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
		}
	}

	nc, err := srv.Connect()
	if err != nil {
		t.Fatalf("service connection: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatalf("service cannot use JetStream: %v", err)
	}

	if nc, err := nats.Connect(srv.ClientURL()); err == nil {
		nc.Close()
		t.Error("anonymous TCP connection accepted")
	}
	cc, err := Dial(srv.ClientURL(), d.ClientCreds)
	if err != nil {
		t.Fatalf("client credentials over TCP: %v", err)
	}
	cc.Close()

	clientKey, _ := os.ReadFile(d.ClientCreds)
	srv.Shutdown()
	srv2, err := startAuth(t, dir)
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	again, _ := os.ReadFile(srv2.Auth().ClientCreds)
	if string(again) != string(clientKey) {
		t.Error("a restart regenerated the credentials")
	}
	nc2, err := srv2.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	js2, _ := jetstream.New(nc2)
	if _, err := js2.Stream(context.Background(), "T"); err != nil {
		t.Errorf("stream lost across a restart with authentication: %v", err)
	}
}

// TestWithoutAuthDirNoAuthentication: the default stays open (tests).
func TestWithoutAuthDirNoAuthentication(t *testing.T) {
	srv, err := Start(context.Background(), Config{StoreDir: t.TempDir(), DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if srv.Auth() != nil {
		t.Error("Auth() != nil without AuthDir")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv.NATS()))
	if err != nil {
		t.Fatalf("anonymous connection refused without AuthDir: %v", err)
	}
	nc.Close()
}

// TestAuthLegacyStoreAndMigrate: a data directory written without
// authentication is refused with an error naming the fix, and
// MigrateLegacyStore makes its streams the service account's.
func TestAuthLegacyStoreAndMigrate(t *testing.T) {
	dir := t.TempDir()
	old, err := Start(context.Background(), Config{StoreDir: dir, DontListen: true})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := old.Connect()
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OLD", Subjects: []string{"old.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "old.1", []byte("money")); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	old.Shutdown()

	cfg := Config{ConfigFile: natsConf, StoreDir: dir, DontListen: true, AuthDir: filepath.Join(dir, "auth")}
	_, err = Start(ctx, cfg)
	if !errors.Is(err, auth.ErrLegacyStore) || !errors.Is(err, ErrConfig) {
		t.Fatalf("start on a legacy store: %v, want ErrConfig and auth.ErrLegacyStore", err)
	}
	if want := "hongbao auth migrate"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name %q", err, want)
	}

	moved, err := MigrateLegacyStore(cfg)
	if err != nil {
		t.Fatalf("MigrateLegacyStore: %v", err)
	}
	srv, err := Start(ctx, cfg)
	if err != nil {
		t.Fatalf("start after migrating: %v", err)
	}
	defer srv.Shutdown()
	if filepath.Base(moved) != srv.Auth().ServiceAccount {
		t.Errorf("migrated to %s, not the service account's directory", moved)
	}
	nc, err = srv.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	s, err := js.Stream(ctx, "OLD")
	if err != nil {
		t.Fatalf("migrated stream: %v", err)
	}
	if n := s.CachedInfo().State.Msgs; n != 1 {
		t.Errorf("migrated stream holds %d messages, want 1", n)
	}
	if _, err := MigrateLegacyStore(Config{StoreDir: dir}); !errors.Is(err, ErrConfig) {
		t.Errorf("MigrateLegacyStore without AuthDir: %v, want ErrConfig", err)
	}
}

// TestAuthExternalNatsConf: the external-server set-up of
// docs/security.md ("From the generated directory") works: a nats.conf
// naming the generated operator JWT, with the account JWTs preloaded,
// accepts the generated credentials and refuses anonymous connections;
// and AuthDir on top of a nats.conf that already configures authentication
// is refused rather than mixed.
func TestAuthExternalNatsConf(t *testing.T) {
	dir := t.TempDir()
	d, err := auth.Ensure(filepath.Join(dir, "auth"), "hongbao")
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(d.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	conf := `listen: "127.0.0.1:-1"
jetstream { store_dir: "` + filepath.Join(dir, "store") + `", sync_interval: always }
operator: "` + filepath.Join(d.Dir, "operator.jwt") + `"
system_account: ` + d.SystemAccount + `
resolver: MEMORY
resolver_preload: {
  ` + d.SystemAccount + `: "` + read("SYS.jwt") + `"
  ` + d.ServiceAccount + `: "` + read("HONGBAO.jwt") + `"
  ` + d.ClientsAccount + `: "` + read("CLIENTS.jwt") + `"
}
`
	file := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(file, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := Start(context.Background(), Config{ConfigFile: file})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	if nc, err := nats.Connect(srv.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("anonymous connection accepted")
	}
	for _, creds := range []string{d.ServiceCreds, d.OperatorCreds, d.ClientCreds} {
		nc, err := Dial(srv.ClientURL(), creds)
		if err != nil {
			t.Fatalf("%s: %v", creds, err)
		}
		nc.Close()
	}
	nc, err := Dial(srv.ClientURL(), d.ServiceCreds)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.AccountInfo(context.Background()); err != nil {
		t.Fatalf("service account without JetStream: %v", err)
	}

	_, err = Start(context.Background(), Config{ConfigFile: file, AuthDir: d.Dir})
	if !errors.Is(err, ErrConfig) || !errors.Is(err, auth.ErrInvalid) {
		t.Fatalf("AuthDir over a nats.conf with authentication: %v, want ErrConfig and auth.ErrInvalid", err)
	}
}
