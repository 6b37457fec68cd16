package e2e

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/client"
	"github.com/hongbao/hongbao/internal/auth"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/ops"
	"github.com/hongbao/hongbao/reconcile"
	"github.com/hongbao/hongbao/topology"
)

// buckets are the service's key-value buckets.
var buckets = []string{"HONGBAO_TIMERS", "HONGBAO_WRAPS", "HONGBAO_DISPATCH"}

// TestClientPermissionContractThroughImports: with the client credentials,
// connecting over TCP as an app would (client.Connect), the contract works
// end to end through the clients account's imports: wrap (in start), pay,
// grab, open, get with read-your-writes, the user lists and the wallet,
// with the micro error headers on errors (the client reads the code from
// them and the body).
func TestClientPermissionContractThroughImports(t *testing.T) {
	h, id := start(t)
	c, err := client.Connect(h.Srv.URL(), h.Srv.Auth().ClientCreds)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if g, err := c.Grab(ctx(t), id, "carol"); err != nil || g.Status != client.StatusCanOpen {
		t.Fatalf("grab: %+v %v", g, err)
	}
	o, err := c.Open(ctx(t), id, "carol")
	if err != nil || !o.Opened() || o.Amount != 100 {
		t.Fatalf("open: %+v %v", o, err)
	}
	g, err := c.GetAfter(ctx(t), id, o.Seq)
	if err != nil || len(g.Opens) != 2 || g.Envelope.OpenedTotal != 200 {
		t.Fatalf("get: %+v %v", g, err)
	}
	r, err := c.UserReceived(ctx(t), "carol", client.AfterSeq(o.Seq))
	if err != nil || r.Totals.Count != 1 || r.Items[0].EnvelopeID != id {
		t.Fatalf("received: %+v %v", r, err)
	}
	s, err := c.UserSent(ctx(t), "alice", client.AfterSeq(o.Seq))
	if err != nil || s.Totals.Count != 1 || s.Items[0].OpenedCount != 2 {
		t.Fatalf("sent: %+v %v", s, err)
	}
	// start waited until bob's credit reached the ledger.
	if w, err := c.Wallet(ctx(t), "bob"); err != nil || w.Balance != 100 || len(w.Entries) != 1 || w.Entries[0].EnvelopeID != id {
		t.Fatalf("wallet: %+v %v", w, err)
	}
	// An error reply crosses the import with its headers.
	var e *client.Error
	if _, err := c.Open(ctx(t), "not-an-id", "bob"); !errors.Is(err, client.ErrInvalidID) || !errors.As(err, &e) || e.Status != 400 {
		t.Fatalf("open not-an-id: %v", err)
	}
	if _, err := c.Pay(ctx(t), id, "another-payment", 300); !errors.Is(err, client.ErrConflict) {
		t.Fatalf("second payment: %v", err)
	}
}

// TestClientPermissionCannotAppendEvents: a client cannot publish to
// envelope.> or ledger.> (nor through JetStream); the streams' message
// counts are unchanged.
func TestClientPermissionCannotAppendEvents(t *testing.T) {
	h, id := start(t)
	before := counts(t, h)
	c := connect(t, h, h.Srv.Auth().ClientCreds)
	for _, subj := range []string{"envelope." + id, "ledger.escrow." + id, "ledger.user.mallory"} {
		c.refused(t, subj, []byte(`{"forged":true}`))
	}
	if _, err := c.js(t).Publish(short(t), "envelope."+id, []byte(`{}`)); err == nil {
		t.Fatal("client appended an event through JetStream")
	}
	unchanged(t, h, before)
}

// TestClientPermissionCannotReadStreamsOrBuckets: a client can neither
// subscribe to the events, ledger or buckets nor read them through the
// JetStream API.
func TestClientPermissionCannotReadStreamsOrBuckets(t *testing.T) {
	h, id := start(t)
	c := connect(t, h, h.Srv.Auth().ClientCreds)
	for _, subj := range []string{"envelope.>", "ledger.>", "$KV.>", "$JS.>", "$SYS.>", "hongbao.wrap", "_R_.>"} {
		if _, err := c.SubscribeSync(subj); err != nil {
			t.Fatalf("subscribe %s: %v", subj, err)
		}
		c.waitViolation(t, subj)
	}
	js := c.js(t)
	for _, s := range []string{topology.DefaultEnvelopeStream, topology.DefaultLedgerStream} {
		if _, err := js.Stream(short(t), s); err == nil {
			t.Errorf("client read stream %s", s)
		}
	}
	for _, b := range buckets {
		if _, err := js.KeyValue(short(t), b); err == nil {
			t.Errorf("client opened bucket %s", b)
		}
	}
	c.refused(t, "$JS.API.STREAM.MSG.GET."+topology.DefaultEnvelopeStream, []byte(`{"last_by_subj":"envelope.`+id+`"}`))
	c.refused(t, "$JS.API.DIRECT.GET.KV_HONGBAO_WRAPS", []byte(`{"seq":1}`))
}

// TestClientPermissionNoJetStreamAPI: no purge, delete, update, message
// delete or consumer for a client; the streams are intact afterwards.
func TestClientPermissionNoJetStreamAPI(t *testing.T) {
	h, _ := start(t)
	before := counts(t, h)
	c := connect(t, h, h.Srv.Auth().ClientCreds)
	for _, s := range []string{topology.DefaultEnvelopeStream, topology.DefaultLedgerStream, "KV_HONGBAO_WRAPS"} {
		for _, subj := range []string{
			"$JS.API.STREAM.PURGE." + s, "$JS.API.STREAM.DELETE." + s, "$JS.API.STREAM.UPDATE." + s,
			"$JS.API.STREAM.MSG.DELETE." + s, "$JS.API.CONSUMER.CREATE." + s, "$JS.API.CONSUMER.CREATE." + s + ".x",
			"$JS.API.CONSUMER.DURABLE.CREATE." + s + ".x", "$JS.API.STREAM.INFO." + s,
		} {
			c.refused(t, subj, []byte(`{"seq":1,"name":"x","config":{"name":"x"}}`))
		}
	}
	c.refused(t, "$JS.API.INFO", nil)
	if err := c.js(t).DeleteStream(short(t), topology.DefaultEnvelopeStream); err == nil {
		t.Fatal("client deleted ENVELOPES")
	}
	unchanged(t, h, before)
}

// TestClientPermissionNoAdmin: the admin endpoints, micro discovery and
// $SYS are out of a client's reach.
func TestClientPermissionNoAdmin(t *testing.T) {
	h, _ := start(t)
	c := connect(t, h, h.Srv.Auth().ClientCreds)
	for _, verb := range []string{"status", "rebuild", "verify"} {
		c.refused(t, h.Ops.Subject(verb), []byte(`{"projection":"all"}`))
	}
	c.refused(t, "hongbao.admin.x", nil)
	c.refused(t, "$SRV.PING", nil)
	c.refused(t, "$SRV.STATS.hongbao", nil)
	c.refused(t, "$SYS.REQ.SERVER.PING", nil)
}

// TestOperatorPermissionAdmin: an operator calls status, rebuild and
// verify through the admin endpoints, and sees the service through micro
// discovery.
func TestOperatorPermissionAdmin(t *testing.T) {
	h, _ := start(t)
	op := *h
	op.NC = connect(t, h, h.Srv.Auth().OperatorCreds).Conn

	st := testenv.Decode[ops.Status](t, op.Request(h.Ops.Subject("status"), `{}`))
	if st.Instance != h.Svc.ID() {
		t.Fatalf("status of %q, want %q", st.Instance, h.Svc.ID())
	}
	for _, verb := range []string{"verify", "rebuild"} {
		started := testenv.Decode[ops.JobsReply](t, op.Request(h.Ops.Subject(verb), `{"projection":"users"}`))
		if len(started.Jobs) != 1 || started.Jobs[0].Kind != verb {
			t.Fatalf("%s started %+v", verb, started)
		}
		natstest.Eventually(t, 30*time.Second, func() error {
			st := testenv.Decode[ops.Status](t, op.Request(h.Ops.Subject("status"), `{}`))
			for _, j := range st.Jobs {
				if j.ID == started.Jobs[0].ID && j.State == "done" {
					return nil
				}
			}
			return fmt.Errorf("%s not done yet", verb)
		})
	}
	if eps := op.MicroStats(h.Svc); eps["admin-status"] == nil {
		t.Fatalf("micro stats without admin-status: %v", eps)
	}
}

// TestOperatorPermissionReconcileAndAudit: reconcile and audit (the
// functions `hongbao reconcile` and `hongbao audit` run) work on an
// operator connection: read-only JetStream is enough.
func TestOperatorPermissionReconcileAndAudit(t *testing.T) {
	h, id := start(t)
	js := connect(t, h, h.Srv.Auth().OperatorCreds).js(t)
	rep, err := reconcile.Run(ctx(t), js, reconcile.Options{})
	if err != nil {
		t.Fatalf("reconcile as operator: %v", err)
	}
	if !rep.OK() || rep.Envelopes != 1 {
		t.Fatalf("reconcile as operator: ok %v, %d envelopes, discrepancies %v", rep.OK(), rep.Envelopes, rep.Discrepancies)
	}
	a, err := reconcile.Audit(ctx(t), js, topology.Default(), id)
	if err != nil {
		t.Fatalf("audit as operator: %v", err)
	}
	if a.EnvelopeID != id || len(a.History) == 0 || !a.OK {
		t.Fatalf("audit as operator: %+v", a)
	}
}

// TestOperatorPermissionCannotAppendOrAlter: an operator cannot publish
// events or ledger entries, write a bucket, or purge, delete or update a
// stream; the streams are intact afterwards.
func TestOperatorPermissionCannotAppendOrAlter(t *testing.T) {
	h, id := start(t)
	before := counts(t, h)
	c := connect(t, h, h.Srv.Auth().OperatorCreds)
	for _, subj := range []string{"envelope." + id, "ledger.escrow." + id, "$KV.HONGBAO_WRAPS.x"} {
		c.refused(t, subj, []byte(`{"forged":true}`))
	}
	js := c.js(t)
	if _, err := js.Publish(short(t), "envelope."+id, []byte(`{}`)); err == nil {
		t.Fatal("operator appended an event through JetStream")
	}
	for _, s := range []string{topology.DefaultEnvelopeStream, topology.DefaultLedgerStream} {
		for _, subj := range []string{"$JS.API.STREAM.PURGE." + s, "$JS.API.STREAM.DELETE." + s,
			"$JS.API.STREAM.UPDATE." + s, "$JS.API.STREAM.MSG.DELETE." + s} {
			c.refused(t, subj, []byte(`{"seq":1}`))
		}
	}
	for _, b := range buckets {
		kv, err := js.KeyValue(ctx(t), b)
		if err != nil {
			t.Fatalf("operator cannot read bucket %s: %v", b, err)
		}
		if _, err = kv.Put(short(t), "forged", []byte("x")); err == nil {
			t.Errorf("operator wrote bucket %s", b)
		}
		c.waitViolation(t, "$KV."+b+".forged")
	}
	svcJS := h.Srv.JetStream(t)
	for _, b := range buckets {
		kv, err := svcJS.KeyValue(ctx(t), b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Get(ctx(t), "forged"); !errors.Is(err, jetstream.ErrKeyNotFound) {
			t.Errorf("bucket %s: forged key: %v", b, err)
		}
	}
	unchanged(t, h, before)
}

// TestAnonymousPermissionRefused: without credentials, with a user and
// password, or with the credentials of another deployment, the server
// refuses the connection; with the generated ones it accepts.
func TestAnonymousPermissionRefused(t *testing.T) {
	h, _ := start(t)
	url := h.Srv.URL()
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("anonymous connection accepted")
	} else if !strings.Contains(strings.ToLower(err.Error()), "authorization") {
		t.Fatalf("anonymous connection: %v, want an authorization violation", err)
	}
	if nc, err := nats.Connect(url, nats.UserInfo("client", "client")); err == nil {
		nc.Close()
		t.Fatal("user/password accepted")
	}
	other, err := auth.Ensure(t.TempDir()+"/auth", "hongbao")
	if err != nil {
		t.Fatal(err)
	}
	if nc, err := nats.Connect(url, nats.UserCredentials(other.ClientCreds)); err == nil {
		nc.Close()
		t.Fatal("credentials of another deployment accepted")
	}
	for _, creds := range []string{h.Srv.Auth().ClientCreds, h.Srv.Auth().OperatorCreds} {
		nc, err := nats.Connect(url, nats.UserCredentials(creds))
		if err != nil {
			t.Fatalf("%s refused: %v", creds, err)
		}
		nc.Close()
	}
}
