package embedded

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const natsConf = "../../nats.conf"

// TestNatsConf pins the durability-relevant settings of the repository's
// nats.conf.
func TestNatsConf(t *testing.T) {
	opts, err := server.ProcessConfigFile(natsConf)
	if err != nil {
		t.Fatalf("ProcessConfigFile(%s): %v", natsConf, err)
	}
	if !opts.JetStream {
		t.Error("JetStream is not enabled")
	}
	if !opts.SyncAlways {
		t.Errorf("JetStream sync_interval is not 'always' (SyncAlways=false, SyncInterval=%s)", opts.SyncInterval)
	}
	if opts.MaxPayload != 1<<20 {
		t.Errorf("MaxPayload = %d, want %d (1MB)", opts.MaxPayload, 1<<20)
	}
	if opts.StoreDir == "" {
		t.Error("no JetStream store_dir")
	}
	if opts.Host != "127.0.0.1" || opts.HTTPHost != "127.0.0.1" {
		t.Errorf("listen host %q, http host %q: want loopback only", opts.Host, opts.HTTPHost)
	}
}

// TestDefaultsMatchNatsConf keeps the built-in defaults (ConfigFile "") in
// step with nats.conf.
func TestDefaultsMatchNatsConf(t *testing.T) {
	file, err := server.ProcessConfigFile(natsConf)
	if err != nil {
		t.Fatalf("ProcessConfigFile(%s): %v", natsConf, err)
	}
	def := defaultOptions()
	for _, c := range []struct {
		name      string
		def, file any
	}{
		{"server_name", def.ServerName, file.ServerName},
		{"listen host", def.Host, file.Host},
		{"listen port", def.Port, file.Port},
		{"http host", def.HTTPHost, file.HTTPHost},
		{"http port", def.HTTPPort, file.HTTPPort},
		{"max_payload", def.MaxPayload, file.MaxPayload},
		{"jetstream", def.JetStream, file.JetStream},
		{"store_dir", def.StoreDir, file.StoreDir},
		{"sync_interval always", def.SyncAlways, file.SyncAlways},
		{"max_memory_store", def.JetStreamMaxMemory, file.JetStreamMaxMemory},
		{"max_file_store", def.JetStreamMaxStore, file.JetStreamMaxStore},
	} {
		if c.def != c.file {
			t.Errorf("%s: built-in default %v, nats.conf %v", c.name, c.def, c.file)
		}
	}
}

func TestStartFromNatsConf(t *testing.T) {
	dir := t.TempDir()
	srv, err := Start(t.Context(), Config{ConfigFile: natsConf, StoreDir: dir, DontListen: true})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Shutdown)

	if got := srv.ClientURL(); got != "" {
		t.Errorf("ClientURL() = %q with DontListen, want \"\"", got)
	}
	if got := srv.StoreDir(); got != dir {
		t.Errorf("StoreDir() = %q, want %q", got, dir)
	}
	if always, d := srv.SyncInterval(); !always {
		t.Errorf("SyncInterval() = (false, %s), want always", d)
	}
	if srv.NATS() == nil || !srv.NATS().JetStreamEnabled() {
		t.Fatal("NATS(): JetStream not enabled")
	}

	nc, err := srv.Connect(nats.Name("embedded-test"))
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(nc.Close)
	if got := nc.MaxPayload(); got != 1<<20 {
		t.Errorf("server max_payload = %d, want 1MB", got)
	}

	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream.New: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "ENVELOPES",
		Subjects: []string{"envelopes.>"},
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	ack, err := js.Publish(ctx, "envelopes.created", []byte(`{"amount":888}`))
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	if ack.Stream != "ENVELOPES" || ack.Sequence != 1 {
		t.Errorf("ack = %+v, want stream ENVELOPES seq 1", ack)
	}
	msg, err := stream.GetMsg(ctx, ack.Sequence)
	if err != nil {
		t.Fatalf("GetMsg: %v", err)
	}
	if string(msg.Data) != `{"amount":888}` || msg.Subject != "envelopes.created" {
		t.Errorf("read back %s %q", msg.Subject, msg.Data)
	}

	// The files are on disk under the configured store dir.
	if _, err := os.Stat(filepath.Join(dir, "jetstream")); err != nil {
		t.Errorf("JetStream files not under StoreDir: %v", err)
	}
}

func TestStartDefaults(t *testing.T) {
	// The built-in defaults, minus the fixed ports (DontListen) and with a
	// temporary store.
	dir := t.TempDir()
	srv, err := Start(t.Context(), Config{StoreDir: dir, DontListen: true})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	if always, d := srv.SyncInterval(); !always {
		t.Errorf("SyncInterval() = (false, %s), want always", d)
	}
	if got := srv.NATS().Name(); got != "hongbao" {
		t.Errorf("server name %q, want hongbao", got)
	}
	nc, err := srv.Connect()
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer nc.Close()
	if got := nc.MaxPayload(); got != 1<<20 {
		t.Errorf("max_payload = %d, want 1MB", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's logging goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestStartListenAndLogger(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "lazy.conf")
	if err := os.WriteFile(conf, []byte("jetstream {\n  sync_interval: 30s\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))

	srv, err := Start(t.Context(), Config{
		ConfigFile: conf,
		StoreDir:   t.TempDir(),
		Listen:     "127.0.0.1:0",
		Logger:     logger,
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Shutdown)

	if always, d := srv.SyncInterval(); always || d != 30*time.Second {
		t.Errorf("SyncInterval() = (%v, %s), want (false, 30s)", always, d)
	}
	u := srv.ClientURL()
	if !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":4222") {
		t.Fatalf("ClientURL() = %q, want a random loopback port", u)
	}
	nc, err := nats.Connect(u)
	if err != nil {
		t.Fatalf("TCP connect to %s: %v", u, err)
	}
	nc.Close()

	out := logs.String()
	if !strings.Contains(out, "component=nats-server") || !strings.Contains(out, "Server is ready") {
		t.Errorf("server logs not forwarded to slog:\n%s", out)
	}
	if !strings.Contains(out, "sync_interval is not 'always'") {
		t.Errorf("no warning about lazy fsync:\n%s", out)
	}
	if strings.Contains(out, "level=DEBUG") {
		t.Errorf("debug logs with an info logger:\n%s", out)
	}
}

func TestStartMissingConfigFile(t *testing.T) {
	srv, err := Start(t.Context(), Config{
		ConfigFile: filepath.Join(t.TempDir(), "does-not-exist.conf"),
		StoreDir:   t.TempDir(),
		DontListen: true,
	})
	if err == nil {
		srv.Shutdown()
		t.Fatal("Start with a missing config file succeeded")
	}
	if !errors.Is(err, ErrConfig) || !strings.HasPrefix(err.Error(), "embedded: ") {
		t.Errorf("err = %v, want an ErrConfig prefixed \"embedded: \"", err)
	}
}

func TestStartInvalidConfig(t *testing.T) {
	for name, cfg := range map[string]Config{
		"bad listen":    {StoreDir: t.TempDir(), Listen: "localhost"},
		"bad port":      {StoreDir: t.TempDir(), Listen: "127.0.0.1:http"},
		"no store dir":  {ConfigFile: writeConf(t, "jetstream: enabled\n"), DontListen: true},
		"syntax errors": {ConfigFile: writeConf(t, "jetstream {\n"), DontListen: true},
	} {
		t.Run(name, func(t *testing.T) {
			srv, err := Start(t.Context(), cfg)
			if err == nil {
				srv.Shutdown()
				t.Fatal("Start succeeded")
			}
			if !errors.Is(err, ErrConfig) {
				t.Errorf("err = %v, want ErrConfig", err)
			}
		})
	}
}

func TestStartUnusableStoreDir(t *testing.T) {
	// A regular file where the store directory should be: JetStream cannot
	// start, which nats-server reports through Fatalf.
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	srv, err := Start(t.Context(), Config{StoreDir: file, DontListen: true})
	if err == nil {
		srv.Shutdown()
		t.Fatal("Start with a file as store dir succeeded")
	}
	if !errors.Is(err, ErrStart) {
		t.Errorf("err = %v, want ErrStart", err)
	}
	if time.Since(start) > readyTimeout/2 {
		t.Errorf("failure took %s; fatal errors should end the wait early", time.Since(start))
	}
}

func TestStartCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	srv, err := Start(ctx, Config{StoreDir: t.TempDir(), DontListen: true})
	if err == nil {
		srv.Shutdown()
		t.Fatal("Start with a canceled context succeeded")
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrStart) {
		t.Errorf("err = %v, want ErrStart and context.Canceled", err)
	}
}

func TestShutdownTwice(t *testing.T) {
	srv, err := Start(t.Context(), Config{StoreDir: t.TempDir(), DontListen: true})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	srv.Shutdown()
	srv.Shutdown()
	if _, err := srv.Connect(nats.MaxReconnects(0)); err == nil {
		t.Error("Connect after Shutdown succeeded")
	}
	if always, _ := srv.SyncInterval(); !always {
		t.Error("SyncInterval after Shutdown lost the setting")
	}
}

func writeConf(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSyncOverride: Config.Sync replaces nats.conf's sync_interval (the
// benchmark measures both policies on the same configuration).
func TestSyncOverride(t *testing.T) {
	for _, tc := range []struct {
		name   string
		sync   Sync
		always bool
		d      time.Duration
	}{
		{"default", Sync{}, false, 2 * time.Minute},
		{"interval", Sync{Interval: time.Second}, false, time.Second},
		{"always", Sync{Always: true}, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, err := Start(t.Context(), Config{ConfigFile: natsConf, StoreDir: t.TempDir(), DontListen: true, Sync: &tc.sync})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			t.Cleanup(srv.Shutdown)
			always, d := srv.SyncInterval()
			if always != tc.always || (!always && d != tc.d) {
				t.Errorf("SyncInterval() = (%v, %s), want (%v, %s)", always, d, tc.always, tc.d)
			}
		})
	}
	if _, err := Options(Config{StoreDir: t.TempDir(), Sync: &Sync{Interval: -time.Second}}); !errors.Is(err, ErrConfig) {
		t.Errorf("negative interval: err = %v, want ErrConfig", err)
	}
}

// TestDial connects by URL, as serve and bench do with --nats-url, and
// redacts secrets from the error.
func TestDial(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "plain.conf") // no monitoring port
	if err := os.WriteFile(conf, []byte("jetstream {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, err := Start(t.Context(), Config{ConfigFile: conf, StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := Dial(srv.ClientURL(), "", nats.Name("dial-test"))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	nc.Close()
	_, err = Dial("nats://user:secret@127.0.0.1:1", "", nats.Timeout(time.Second))
	if err == nil || strings.Contains(err.Error(), "secret") || !strings.HasPrefix(err.Error(), "embedded: connect ") {
		t.Errorf("Dial to nowhere: err = %v, want an error without the password", err)
	}
}

func TestRedactURL(t *testing.T) {
	got := RedactURL("nats://u:secret@h:4222, nats://tok@h2:4222,nats://h3:4222")
	if strings.Contains(got, "secret") || strings.Contains(got, "tok@") || !strings.Contains(got, "h3:4222") {
		t.Errorf("RedactURL = %s", got)
	}
}
