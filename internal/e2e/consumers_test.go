package e2e

import (
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// TestOperatorPermissionServiceHasNoDurableConsumers: the gap docs/security.md
// described — an operator may create a named consumer, so it could take
// over one of the service's durable consumers by name — has nothing to
// take over: the service (projections, dispatch, timers, reconcile) reads
// only through ordered, ephemeral consumers and KV watchers, whose names
// are random and which the server removes when idle. Should a durable
// consumer be added, its name must come from package topology and be
// denied to operators ($JS.API.CONSUMER.CREATE.<stream>.<name>[.>], and
// .DURABLE.CREATE is denied already); this test then fails as a reminder.
func TestOperatorPermissionServiceHasNoDurableConsumers(t *testing.T) {
	h, _ := start(t)
	js := h.Srv.JetStream(t)
	streams := js.ListStreams(ctx(t))
	n := 0
	for s := range streams.Info() {
		st, err := js.Stream(ctx(t), s.Config.Name)
		if err != nil {
			t.Fatal(err)
		}
		cs := st.ListConsumers(ctx(t))
		for c := range cs.Info() {
			n++
			if c.Config.Durable != "" || c.Config.InactiveThreshold <= 0 {
				t.Errorf("stream %s: consumer %s is durable (durable %q, inactive threshold %s): name it in topology and deny it to operators (internal/auth)",
					s.Config.Name, c.Name, c.Config.Durable, c.Config.InactiveThreshold)
			}
		}
		if err := cs.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := streams.Err(); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no consumers at all: the service's readers were not found")
	}
}

// TestOperatorPermissionResidualEphemeralConsumers documents what remains
// (docs/security.md): an operator may list the service's ephemeral
// consumers and, since the subject of a consumer create carries its name
// but not whether it exists, update one's configuration by name — say,
// narrow a projection's filter — which subject permissions cannot refuse
// (the names are random, one token each). It cannot touch the events. If
// this test fails because the gap was closed, update docs/security.md.
func TestOperatorPermissionResidualEphemeralConsumers(t *testing.T) {
	h, _ := start(t)
	ojs := connect(t, h, h.Srv.Auth().OperatorCreds).js(t)
	st, err := ojs.Stream(ctx(t), "ENVELOPES")
	if err != nil {
		t.Fatal(err)
	}
	var victim *jetstream.ConsumerInfo
	cs := st.ListConsumers(ctx(t))
	for c := range cs.Info() {
		if victim == nil {
			victim = c
		}
	}
	if victim == nil {
		t.Fatal("no consumer on ENVELOPES")
	}
	cfg := victim.Config
	cfg.Description = "changed by an operator"
	if _, err := ojs.UpdateConsumer(ctx(t), "ENVELOPES", cfg); err != nil {
		t.Fatalf("the gap is closed (%v): update docs/security.md and this test", err)
	}
	sjs := h.Srv.JetStream(t)
	c, err := sjs.Consumer(ctx(t), "ENVELOPES", victim.Name)
	if err != nil {
		t.Fatal(err)
	}
	if c.CachedInfo().Config.Description != "changed by an operator" {
		t.Fatalf("consumer %s not changed: %+v", victim.Name, c.CachedInfo().Config)
	}
}
