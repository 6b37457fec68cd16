package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
)

const prefix = "hongbao"

// env is a running server in operator mode with the generated credentials.
type env struct {
	d  *Deployment
	ns *server.Server
}

func startEnv(t *testing.T) *env {
	t.Helper()
	d, err := Ensure(t.TempDir()+"/auth", prefix)
	if err != nil {
		t.Fatal(err)
	}
	return &env{d: d, ns: startServer(t, d, t.TempDir())}
}

func startServer(t *testing.T, d *Deployment, store string) *server.Server {
	t.Helper()
	opts := &server.Options{
		ServerName: "auth-test", Host: "127.0.0.1", Port: -1,
		JetStream: true, StoreDir: store,
		NoLog: true, NoSigs: true,
	}
	if d != nil {
		if err := d.ConfigureServer(opts); err != nil {
			t.Fatal(err)
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	return ns
}

// conn is a connection that records the asynchronous errors the server
// sends it (permissions violations).
type conn struct {
	*nats.Conn
	mu   sync.Mutex
	errs []error
}

func (e *env) connect(t *testing.T, creds string) *conn {
	t.Helper()
	c := &conn{}
	nc, err := nats.Connect(e.ns.ClientURL(), nats.UserCredentials(creds),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			c.mu.Lock()
			c.errs = append(c.errs, err)
			c.mu.Unlock()
		}))
	if err != nil {
		t.Fatalf("connect with %s: %v", creds, err)
	}
	t.Cleanup(nc.Close)
	c.Conn = nc
	return c
}

// waitViolation polls until the server has reported a permissions violation
// mentioning subject. The server checks a publish before routing it, so once
// the violation has arrived the refused message has been dropped.
func (c *conn) waitViolation(t *testing.T, subject string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		for _, err := range c.errs {
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(err.Error(), subject) {
				c.mu.Unlock()
				return
			}
		}
		c.mu.Unlock()
		if err := c.FlushTimeout(time.Second); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("no permissions violation for %q; errors: %v", subject, c.errs)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// fakeService registers a micro service "hongbao" on the service
// connection, with endpoints like the real ones. wrap answers a 400 with
// the micro error headers; admin.x.status answers ok. It counts calls.
type fakeService struct {
	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeService) count(subj string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[subj]
}

func startFakeService(t *testing.T, nc *nats.Conn) *fakeService {
	t.Helper()
	f := &fakeService{calls: map[string]int{}}
	svc, err := micro.AddService(nc, micro.Config{Name: "hongbao", Version: "1.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	h := func(r micro.Request) {
		f.mu.Lock()
		f.calls[r.Subject()]++
		f.mu.Unlock()
		switch {
		case r.Subject() == prefix+".wrap":
			_ = r.Error("400", "bad request", []byte(`{"error":{"code":"bad_request","message":"test"}}`))
		default:
			_ = r.Respond([]byte(`{"ok":"` + r.Subject() + `"}`))
		}
	}
	g := svc.AddGroup(prefix)
	for _, ep := range []struct{ name, subj string }{
		{"wrap", "wrap"}, {"pay", "pay.*"}, {"get", "get.*"}, {"user", "user.*"},
		{"campaign", "campaign.>"}, {"admin", "admin.>"},
	} {
		if err := g.AddEndpoint(ep.name, micro.HandlerFunc(h), micro.WithEndpointSubject(ep.subj)); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// streams creates ENVELOPES and LEDGER, each with n messages, and the KV
// bucket HONGBAO_TIMERS with one key, as the service.
func streams(t *testing.T, nc *nats.Conn, n int) jetstream.JetStream {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ name, subj string }{{"ENVELOPES", "envelope.>"}, {"LEDGER", "ledger.>"}} {
		if _, err := js.CreateStream(ctx(t), jetstream.StreamConfig{Name: s.name, Subjects: []string{s.subj}, AllowDirect: true}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if _, err := js.Publish(ctx(t), strings.TrimSuffix(s.subj, ">")+"e1", []byte("event")); err != nil {
				t.Fatal(err)
			}
		}
	}
	kv, err := js.CreateKeyValue(ctx(t), jetstream.KeyValueConfig{Bucket: "HONGBAO_TIMERS"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx(t), "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	return js
}

// intact asserts that the stream still has n messages, its subjects and
// consumers consumers.
func intact(t *testing.T, js jetstream.JetStream, name, subj string, n uint64, consumers int) {
	t.Helper()
	s, err := js.Stream(ctx(t), name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != n || info.State.Consumers != consumers || len(info.Config.Subjects) != 1 || info.Config.Subjects[0] != subj {
		t.Fatalf("stream %s changed: msgs %d (want %d), consumers %d (want %d), subjects %v",
			name, info.State.Msgs, n, info.State.Consumers, consumers, info.Config.Subjects)
	}
}

func ctxTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
