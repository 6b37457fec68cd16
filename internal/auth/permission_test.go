package auth

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// refusedTimeout bounds a request that the server refuses silently (a denied
// publish is dropped, so no reply ever comes). It is not a sleep: the test
// asserts the request failed, and then the state.
const refusedTimeout = 500 * time.Millisecond

func TestClientPermissionRequestsCrossTheImport(t *testing.T) {
	e := startEnv(t)
	svc := e.connect(t, e.d.ServiceCreds)
	f := startFakeService(t, svc.Conn)
	cl := e.connect(t, e.d.ClientCreds)

	m, err := cl.Request(prefix+".wrap", []byte(`{}`), 5*time.Second)
	if err != nil {
		t.Fatalf("wrap: %v", err)
	}
	if got := m.Header.Get("Nats-Service-Error-Code"); got != "400" {
		t.Fatalf("Nats-Service-Error-Code = %q, want 400 (headers must cross the import)", got)
	}
	for _, subj := range []string{prefix + ".pay.01J0000000000000000000000A", prefix + ".get.X", prefix + ".user.received", prefix + ".campaign.create", prefix + ".campaign.open.X"} {
		m, err := cl.Request(subj, []byte(`{}`), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
		if want := `{"ok":"` + subj + `"}`; string(m.Data) != want {
			t.Fatalf("%s: reply %s, want %s", subj, m.Data, want)
		}
	}
	if f.count(prefix+".wrap") != 1 {
		t.Fatalf("wrap calls = %d", f.count(prefix+".wrap"))
	}
}

func TestClientPermissionCannotAppendEvents(t *testing.T) {
	e := startEnv(t)
	svc := e.connect(t, e.d.ServiceCreds)
	js := streams(t, svc.Conn, 3)
	cl := e.connect(t, e.d.ClientCreds)

	for _, subj := range []string{"envelope.x", "ledger.x"} {
		if err := cl.Publish(subj, []byte("forged")); err != nil {
			t.Fatal(err)
		}
		cl.waitViolation(t, subj)
	}
	intact(t, js, "ENVELOPES", "envelope.>", 3, 0)
	intact(t, js, "LEDGER", "ledger.>", 3, 0)
}

func TestClientPermissionNoJetStreamAPI(t *testing.T) {
	e := startEnv(t)
	svc := e.connect(t, e.d.ServiceCreds)
	js := streams(t, svc.Conn, 3)
	cl := e.connect(t, e.d.ClientCreds)

	for _, subj := range []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO.ENVELOPES",
		"$JS.API.STREAM.PURGE.ENVELOPES",
		"$JS.API.STREAM.DELETE.ENVELOPES",
		"$JS.API.STREAM.UPDATE.ENVELOPES",
		"$JS.API.STREAM.MSG.DELETE.ENVELOPES",
		"$JS.API.STREAM.MSG.GET.ENVELOPES",
		"$JS.API.CONSUMER.CREATE.ENVELOPES",
		"$JS.API.CONSUMER.CREATE.ENVELOPES.spy",
		"$JS.API.CONSUMER.DURABLE.CREATE.ENVELOPES.spy",
		"$JS.API.DIRECT.GET.KV_HONGBAO_TIMERS.$KV.HONGBAO_TIMERS.k",
		"$SYS.REQ.SERVER.PING",
	} {
		if _, err := cl.Request(subj, []byte(`{"config":{"name":"ENVELOPES","subjects":["x.>"]}}`), refusedTimeout); err == nil {
			t.Fatalf("%s answered a client", subj)
		}
		cl.waitViolation(t, subj)
	}
	// The client library's view: no JetStream at all.
	cjs, err := jetstream.New(cl.Conn)
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := ctxTimeout(refusedTimeout)
	defer cancel()
	if _, err := cjs.KeyValue(c, "HONGBAO_TIMERS"); err == nil {
		t.Fatal("client opened a KV bucket")
	}
	intact(t, js, "ENVELOPES", "envelope.>", 3, 0)
	intact(t, js, "LEDGER", "ledger.>", 3, 0)
	kv, err := js.KeyValue(ctx(t), "HONGBAO_TIMERS")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := kv.Get(ctx(t), "k"); err != nil || string(v.Value()) != "v" {
		t.Fatalf("bucket changed: %v", err)
	}
}

func TestClientPermissionCannotSubscribe(t *testing.T) {
	e := startEnv(t)
	cl := e.connect(t, e.d.ClientCreds)
	// Reading the streams' subjects, the KV subjects, or other clients'
	// requests (to answer them in the service's place) is refused.
	for _, subj := range []string{"envelope.>", "ledger.>", "$KV.HONGBAO_TIMERS.>", prefix + ".wrap", prefix + ".>", ">", "$SYS.>"} {
		if _, err := cl.SubscribeSync(subj); err != nil {
			t.Fatal(err)
		}
		cl.waitViolation(t, subj)
	}
}

func TestClientPermissionNoAdmin(t *testing.T) {
	e := startEnv(t)
	svc := e.connect(t, e.d.ServiceCreds)
	f := startFakeService(t, svc.Conn)
	cl := e.connect(t, e.d.ClientCreds)

	for _, subj := range []string{prefix + ".admin.x.status", prefix + ".admin.x.rebuild", "$SRV.PING", "$SRV.INFO.hongbao"} {
		if _, err := cl.Request(subj, nil, refusedTimeout); err == nil {
			t.Fatalf("%s answered a client", subj)
		}
		cl.waitViolation(t, subj)
	}
	if n := f.count(prefix + ".admin.x.status"); n != 0 {
		t.Fatalf("admin endpoint called %d times by a client", n)
	}
}

func TestOperatorPermissionReadsStreams(t *testing.T) {
	e := startEnv(t)
	svc := e.connect(t, e.d.ServiceCreds)
	streams(t, svc.Conn, 5)
	op := e.connect(t, e.d.OperatorCreds)

	ojs, err := jetstream.New(op.Conn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ojs.AccountInfo(ctx(t)); err != nil {
		t.Fatalf("account info: %v", err)
	}
	names := ojs.StreamNames(ctx(t))
	var got []string
	for n := range names.Name() {
		got = append(got, n)
	}
	if names.Err() != nil || len(got) != 3 {
		t.Fatalf("stream names %v, %v", got, names.Err())
	}
	for _, name := range []string{"ENVELOPES", "LEDGER"} {
		s, err := ojs.Stream(ctx(t), name)
		if err != nil {
			t.Fatalf("%s info: %v", name, err)
		}
		cons, err := s.OrderedConsumer(ctx(t), jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatalf("%s ordered consumer: %v", name, err)
		}
		batch, err := cons.Fetch(5, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			if string(m.Data()) != "event" {
				t.Fatalf("read %q", m.Data())
			}
		}
		if batch.Error() != nil || n != 5 {
			t.Fatalf("%s: read %d of 5 messages: %v", name, n, batch.Error())
		}
		if m, err := s.GetMsg(ctx(t), 1); err != nil || string(m.Data) != "event" {
			t.Fatalf("%s: get message 1: %v", name, err)
		}
		last := map[string]string{"ENVELOPES": "envelope.e1", "LEDGER": "ledger.e1"}[name]
		if m, err := s.GetLastMsgForSubject(ctx(t), last); err != nil || m.Sequence != 5 {
			t.Fatalf("%s: direct get of the last %s: %v", name, last, err)
		}
	}
	kv, err := ojs.KeyValue(ctx(t), "HONGBAO_TIMERS")
	if err != nil {
		t.Fatalf("operator bucket: %v", err)
	}
	if v, err := kv.Get(ctx(t), "k"); err != nil || string(v.Value()) != "v" {
		t.Fatalf("operator KV read: %v", err)
	}
}

func TestOperatorPermissionAdminAndDiscovery(t *testing.T) {
	e := startEnv(t)
	svc := e.connect(t, e.d.ServiceCreds)
	f := startFakeService(t, svc.Conn)
	op := e.connect(t, e.d.OperatorCreds)

	m, err := op.Request(prefix+".admin.x.status", nil, 5*time.Second)
	if err != nil || string(m.Data) != `{"ok":"`+prefix+`.admin.x.status"}` {
		t.Fatalf("admin status: %v", err)
	}
	if f.count(prefix+".admin.x.status") != 1 {
		t.Fatal("admin endpoint not called")
	}
	for _, subj := range []string{"$SRV.PING", "$SRV.INFO.hongbao", "$SRV.STATS.hongbao"} {
		if _, err := op.Request(subj, nil, 5*time.Second); err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
	}
	// The operator is not a client: contract requests are refused.
	if _, err := op.Request(prefix+".wrap", nil, refusedTimeout); err == nil {
		t.Fatal("operator could wrap")
	}
	op.waitViolation(t, prefix+".wrap")
}

func TestOperatorPermissionCannotAppendOrAlter(t *testing.T) {
	e := startEnv(t)
	svc := e.connect(t, e.d.ServiceCreds)
	js := streams(t, svc.Conn, 3)
	op := e.connect(t, e.d.OperatorCreds)

	for _, subj := range []string{"envelope.x", "ledger.x", "$KV.HONGBAO_TIMERS.k"} {
		if err := op.Publish(subj, []byte("forged")); err != nil {
			t.Fatal(err)
		}
		op.waitViolation(t, subj)
	}
	ojs, err := jetstream.New(op.Conn)
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := ctxTimeout(refusedTimeout)
	defer cancel()
	if _, err := ojs.Publish(c, "envelope.x", []byte("forged")); err == nil {
		t.Fatal("operator appended an event")
	}
	for _, subj := range []string{
		"$JS.API.STREAM.PURGE.ENVELOPES",
		"$JS.API.STREAM.DELETE.LEDGER",
		"$JS.API.STREAM.UPDATE.ENVELOPES",
		"$JS.API.STREAM.CREATE.OTHER",
		"$JS.API.STREAM.MSG.DELETE.ENVELOPES",
		"$JS.API.CONSUMER.DURABLE.CREATE.ENVELOPES.d",
		"$JS.API.CONSUMER.DELETE.ENVELOPES.d",
	} {
		if _, err := op.Request(subj, []byte(`{"seq":1,"config":{"name":"ENVELOPES","subjects":["x.>"]}}`), refusedTimeout); err == nil {
			t.Fatalf("%s answered an operator", subj)
		}
		op.waitViolation(t, subj)
	}
	kv, err := ojs.KeyValue(ctx(t), "HONGBAO_TIMERS")
	if err != nil {
		t.Fatal(err)
	}
	c2, cancel2 := ctxTimeout(refusedTimeout)
	defer cancel2()
	if _, err := kv.Put(c2, "k", []byte("forged")); err == nil {
		t.Fatal("operator wrote to a bucket")
	}
	intact(t, js, "ENVELOPES", "envelope.>", 3, 0)
	intact(t, js, "LEDGER", "ledger.>", 3, 0)
	if v, err := kv.Get(ctx(t), "k"); err != nil || string(v.Value()) != "v" {
		t.Fatalf("bucket changed: %v", err)
	}
}

func TestAnonymousPermissionRefused(t *testing.T) {
	e := startEnv(t)
	nc, err := nats.Connect(e.ns.ClientURL(), nats.MaxReconnects(0))
	if err == nil {
		nc.Close()
		t.Fatal("anonymous connection accepted")
	}
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous connection: %v, want an authorization violation", err)
	}
	// A user/password or a user JWT from another operator fail as well.
	other, err := Ensure(t.TempDir(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(e.ns.ClientURL(), nats.UserCredentials(other.ClientCreds)); err == nil {
		nc.Close()
		t.Fatal("credentials of another deployment accepted")
	}
	if nc, err := nats.Connect(e.ns.ClientURL(), nats.UserInfo("client", "x")); err == nil {
		nc.Close()
		t.Fatal("user/password accepted")
	}
}

// TestOperatorPermissionResidualDurableConsumers documents a known gap
// (docs/security.md): the subject of a named consumer create does not say
// whether the consumer is durable, so an operator can update one of the
// service's durable consumers. It cannot touch the events. If this test
// fails because the gap was closed, update docs/security.md.
func TestOperatorPermissionResidualDurableConsumers(t *testing.T) {
	e := startEnv(t)
	svc := e.connect(t, e.d.ServiceCreds)
	js := streams(t, svc.Conn, 2)
	if _, err := js.CreateOrUpdateConsumer(ctx(t), "ENVELOPES", jetstream.ConsumerConfig{Durable: "projector", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	op := e.connect(t, e.d.OperatorCreds)
	ojs, _ := jetstream.New(op.Conn)
	_, err := ojs.CreateOrUpdateConsumer(ctx(t), "ENVELOPES", jetstream.ConsumerConfig{Durable: "projector", AckPolicy: jetstream.AckExplicitPolicy, Description: "changed by an operator"})
	if err != nil {
		t.Fatalf("the gap is closed (%v): update docs/security.md and this test", err)
	}
	c, err := js.Consumer(ctx(t), "ENVELOPES", "projector")
	if err != nil || c.CachedInfo().Config.Description != "changed by an operator" {
		t.Fatalf("consumer: %v", err)
	}
	intact(t, js, "ENVELOPES", "envelope.>", 2, 1)
}
