package natstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

const waitFor = 10 * time.Second

func createStream(t *testing.T, js jetstream.JetStream) jetstream.Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     "LEDGER",
		Subjects: []string{"ledger.>"},
		Storage:  jetstream.FileStorage,
	})
	if err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	return stream
}

func publish(ctx context.Context, js jetstream.JetStream, data, id string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := js.Publish(ctx, "ledger.entry", []byte(data), jetstream.WithMsgID(id))
	return err
}

// reconnected reports nil once nc has reconnected at least `after` times in
// total and is connected.
func reconnected(nc *nats.Conn, after uint64) func() error {
	return func() error {
		if n := nc.Stats().Reconnects; n < after {
			return fmt.Errorf("%d reconnects, want %d; status %s", n, after, nc.Status())
		}
		if !nc.IsConnected() {
			return fmt.Errorf("not connected; status %s", nc.Status())
		}
		return nil
	}
}

func readAll(t *testing.T, stream jetstream.Stream, n uint64) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	var got []string
	for seq := uint64(1); seq <= n; seq++ {
		msg, err := stream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("GetMsg(%d): %v", seq, err)
		}
		got = append(got, string(msg.Data))
	}
	return got
}

func TestStartDefaults(t *testing.T) {
	s := Start(t)
	cfg := s.NATS().JetStreamConfig()
	if cfg == nil {
		t.Fatal("JetStream not enabled")
	}
	if !cfg.SyncAlways {
		t.Errorf("SyncAlways = false (interval %s), want sync_interval always by default", cfg.SyncInterval)
	}
	if s.URL() != "" {
		t.Errorf("URL() = %q without WithListen, want \"\"", s.URL())
	}
	if !strings.HasPrefix(cfg.StoreDir, s.StoreDir()) {
		t.Errorf("JetStream store %q not under StoreDir %q", cfg.StoreDir, s.StoreDir())
	}
}

func TestWithSyncInterval(t *testing.T) {
	s := Start(t, WithSyncInterval(2*time.Minute))
	cfg := s.NATS().JetStreamConfig()
	if cfg.SyncAlways || cfg.SyncInterval != 2*time.Minute {
		t.Errorf("SyncAlways=%v SyncInterval=%s, want false 2m", cfg.SyncAlways, cfg.SyncInterval)
	}
	s.Restart(t)
	if cfg := s.NATS().JetStreamConfig(); cfg.SyncAlways || cfg.SyncInterval != 2*time.Minute {
		t.Errorf("after Restart: SyncAlways=%v SyncInterval=%s, want false 2m", cfg.SyncAlways, cfg.SyncInterval)
	}
}

func TestRestartPersistsAndReconnects(t *testing.T) {
	s := Start(t)
	nc := s.Conn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream := createStream(t, js)
	if err := publish(t.Context(), js, "one", "m1"); err != nil {
		t.Fatalf("publish before restart: %v", err)
	}
	old := s.NATS()

	s.Restart(t)
	if s.NATS() == old || old.Running() {
		t.Fatal("Restart did not replace the server")
	}
	if !s.NATS().Running() {
		t.Fatal("new server not running")
	}

	// The connection made before the restart, an in-process pipe to the
	// old server, reconnects to the new one.
	Eventually(t, waitFor, reconnected(nc, 1))
	Eventually(t, waitFor, func() error { return publish(t.Context(), js, "two", "m2") })

	// The stream and the message acknowledged before the restart came back
	// from disk; the new one is behind it.
	info, err := stream.Info(t.Context())
	if err != nil {
		t.Fatalf("stream info after restart: %v", err)
	}
	if info.State.Msgs != 2 {
		t.Fatalf("stream has %d messages, want 2", info.State.Msgs)
	}
	if got := readAll(t, stream, 2); got[0] != "one" || got[1] != "two" {
		t.Errorf("stream = %q, want [one two]", got)
	}

	// A fresh JetStream context on the restarted server sees the same.
	fresh, err := s.JetStream(t).Stream(t.Context(), "LEDGER")
	if err != nil {
		t.Fatalf("Stream on new connection: %v", err)
	}
	if got := readAll(t, fresh, 2); got[1] != "two" {
		t.Errorf("fresh connection reads %q", got)
	}
}

func TestShutdownIsOutage(t *testing.T) {
	s := Start(t)
	nc := s.Conn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream := createStream(t, js)
	if err := publish(t.Context(), js, "before", "m1"); err != nil {
		t.Fatalf("publish: %v", err)
	}

	s.Shutdown()
	s.Shutdown() // idempotent
	if s.NATS().Running() {
		t.Fatal("server still running after Shutdown")
	}
	Eventually(t, waitFor, func() error {
		if nc.IsConnected() {
			return errors.New("still connected")
		}
		return nil
	})
	if st := nc.Status(); st != nats.RECONNECTING {
		t.Errorf("status during outage %s, want RECONNECTING", st)
	}
	// Writes fail during the outage. nats.go buffers the publish and sends
	// it after reconnecting, so it carries a message ID and is retried
	// below with the same ID: JetStream deduplicates, as a real client
	// retrying a money event would rely on.
	if err := publish(t.Context(), js, "during", "m2"); err == nil {
		t.Fatal("publish acknowledged during outage")
	}
	if _, err := (inProcessDialer{s: s}).Dial("tcp", ""); !errors.Is(err, ErrNoServer) {
		t.Errorf("Dial during outage: %v, want ErrNoServer", err)
	}

	s.Restart(t)
	Eventually(t, waitFor, reconnected(nc, 1))
	Eventually(t, waitFor, func() error { return publish(t.Context(), js, "during", "m2") })
	if err := publish(t.Context(), js, "after", "m3"); err != nil {
		t.Fatalf("publish after outage: %v", err)
	}
	if got := readAll(t, stream, 3); strings.Join(got, ",") != "before,during,after" {
		t.Errorf("stream = %q, want [before during after]", got)
	}
}

func TestRestartTwice(t *testing.T) {
	s := Start(t)
	nc := s.Conn(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream := createStream(t, js)
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("m%d", i)
		Eventually(t, waitFor, func() error { return publish(t.Context(), js, id, id) })
		s.Restart(t)
		Eventually(t, waitFor, reconnected(nc, uint64(i)))
	}
	if got := readAll(t, stream, 3); strings.Join(got, ",") != "m1,m2,m3" {
		t.Errorf("stream = %q", got)
	}
}

func TestWithListen(t *testing.T) {
	s := Start(t, WithListen())
	url := s.URL()
	if !strings.HasPrefix(url, "nats://127.0.0.1:") || strings.HasSuffix(url, ":4222") {
		t.Fatalf("URL() = %q, want 127.0.0.1 with a random port", url)
	}
	tcp, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(reconnectWait))
	if err != nil {
		t.Fatalf("TCP connect: %v", err)
	}
	t.Cleanup(tcp.Close)

	s.Restart(t)
	if s.URL() != url {
		t.Errorf("URL changed across Restart: %q -> %q", url, s.URL())
	}
	Eventually(t, waitFor, reconnected(tcp, 1))
	if err := tcp.Flush(); err != nil {
		t.Errorf("flush after reconnect: %v", err)
	}
	// In-process connections work alongside the listener.
	if err := s.Conn(t).Flush(); err != nil {
		t.Errorf("in-process flush: %v", err)
	}
}

// recordTB records Fatalf instead of stopping the test, to test failures.
type recordTB struct {
	testing.TB
	failed string
}

func (r *recordTB) Helper() {}

func (r *recordTB) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestEventually(t *testing.T) {
	calls := 0
	Eventually(t, waitFor, func() error {
		calls++
		if calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Errorf("cond called %d times, want 3", calls)
	}

	rec := &recordTB{TB: t}
	start := time.Now()
	Eventually(rec, 50*time.Millisecond, func() error { return errors.New("never") })
	if !strings.Contains(rec.failed, "never") || !strings.HasPrefix(rec.failed, "natstest: ") {
		t.Errorf("failure message %q, want the last error prefixed natstest:", rec.failed)
	}
	if d := time.Since(start); d < 50*time.Millisecond || d > 5*time.Second {
		t.Errorf("gave up after %s, want about 50ms", d)
	}
}

func TestNegativeSyncInterval(t *testing.T) {
	rec := &recordTB{TB: t}
	if s := Start(rec, WithSyncInterval(-time.Second)); s != nil || rec.failed == "" {
		t.Errorf("Start with a negative interval: server %v, failure %q", s, rec.failed)
	}
}

// TestWithAuth: the service connection uses JetStream across a restart,
// the client credentials connect, an anonymous TCP connection is refused.
func TestWithAuth(t *testing.T) {
	srv := Start(t, WithAuth(), WithListen())
	d := srv.Auth()
	if d == nil {
		t.Fatal("Auth() = nil WithAuth")
	}
	ctx := context.Background()
	js := srv.JetStream(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "A", Subjects: []string{"a.>"}}); err != nil {
		t.Fatalf("service JetStream: %v", err)
	}
	srv.ConnAs(t, d.ClientCreds)
	if nc, err := nats.Connect(srv.URL()); err == nil {
		nc.Close()
		t.Fatal("anonymous connection accepted WithAuth")
	}
	srv.Restart(t)
	Eventually(t, 10*time.Second, func() error {
		_, err := js.Stream(ctx, "A")
		return err
	})
	if Start(t).Auth() != nil {
		t.Error("Auth() != nil without WithAuth")
	}
}
