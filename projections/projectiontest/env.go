package projectiontest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/projections/outbox"
	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/topology"
)

// Timeout bounds every wait on the server or a projector.
const Timeout = 30 * time.Second

// Env is a JetStream server with the ENVELOPES and LEDGER streams, and a
// script writing to them.
type Env struct {
	Server *natstest.Server
	JS     jetstream.JetStream
	Store  *eventstore.Store
	Ledger *ledger.Ledger
	Script *Script
	// Deliver: Apply also hands the transfers its events imply
	// (outbox.TransfersOf) to the ledger, as the dispatcher would.
	Deliver bool

	transfers []outbox.Transfer // delivered so far, in order
}

// NewEnv starts a server (fsyncing in the background: the scripts test
// read models, not durability) and opens the streams on it.
func NewEnv(t testing.TB) *Env {
	t.Helper()
	srv := natstest.Start(t, natstest.WithSyncInterval(2*time.Minute))
	js := srv.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	store, err := eventstore.Open(ctx, js, eventstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	led, err := ledger.Open(ctx, js, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Server: srv, JS: js, Store: store, Ledger: led, Script: NewScript()}
}

// Apply parses input's events and appends them to their envelopes'
// subjects, each expecting its envelope's last sequence, and (with
// Deliver) transfers what they imply. It returns a line per event (its
// sequence and the event in full) and per ledger entry, or the first
// error, after which nothing more is appended.
func (e *Env) Apply(input string) (string, error) {
	evs, err := e.Script.Parse(input)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var b strings.Builder
	for _, ev := range evs {
		env := e.Script.Envelope(ev.EnvelopeID)
		seq, err := e.Store.Append(ctx, env.LastSeq, ev)
		if err != nil {
			return b.String(), fmt.Errorf("append %s: %w", e.Script.Format(ev), err)
		}
		env.LastSeq = seq
		fmt.Fprintf(&b, "%d: %s\n", seq, e.Script.Format(ev))
		if !e.Deliver {
			continue
		}
		for _, tr := range outbox.TransfersOf(events.Record{Seq: seq, Event: ev}, env.Sender) {
			line, err := e.transfer(ctx, tr)
			if err != nil {
				return b.String(), err
			}
			e.transfers = append(e.transfers, tr)
			b.WriteString(line)
		}
	}
	return b.String(), nil
}

// Redeliver hands every transfer delivered so far to the ledger again, as
// a dispatcher that crashed before recording its progress would.
func (e *Env) Redeliver() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	var b strings.Builder
	for _, tr := range e.transfers {
		line, err := e.transfer(ctx, tr)
		if err != nil {
			return b.String(), err
		}
		b.WriteString(line)
	}
	return b.String(), nil
}

func (e *Env) transfer(ctx context.Context, tr outbox.Transfer) (string, error) {
	res, err := e.Ledger.Transfer(ctx, tr.Transfer)
	if err != nil {
		return "", fmt.Errorf("transfer %s: %w", tr.ID, err)
	}
	dup := ""
	if res.Duplicate {
		dup = " (duplicate: the entry of the first delivery)"
	}
	return fmt.Sprintf("  ledger %d: %s\n", res.Seq, e.FormatTransfer(tr.Transfer)+dup), nil
}

// FormatTransfer prints a transfer with the script's names.
func (e *Env) FormatTransfer(tr ledger.Transfer) string {
	name := e.Script.Name(tr.EnvelopeID)
	short := func(s string) string { return strings.ReplaceAll(s, tr.EnvelopeID, name) }
	return fmt.Sprintf("%s %s → %s %d", short(tr.ID), short(tr.Debit), short(tr.Credit), tr.Amount)
}

// Command runs the commands every script has, and reports whether td was
// one of them:
//
//	apply       the events of the input (Apply), then the view catches up
//	redeliver   every transfer again (Redeliver), then the view catches up
func (e *Env) Command(t *testing.T, td *datadriven.TestData, v *View) (string, bool) {
	var out string
	var err error
	switch td.Cmd {
	case "apply":
		out, err = e.Apply(td.Input)
	case "redeliver":
		out, err = e.Redeliver()
	default:
		return "", false
	}
	if err != nil {
		return out + "error: " + err.Error(), true
	}
	v.CatchUp(t)
	return out + fmt.Sprintf("%s applied through %d", v.Spec.Proj.Name(), v.Projector.Applied()), true
}

// Spec is a projection and the stream it reads.
type Spec struct {
	Proj           projector.RawProjection
	Stream, Filter string
}

// Envelopes is the spec of a projection of the ENVELOPES stream.
func Envelopes(p projector.Projection) Spec {
	return Spec{projector.Events(p), topology.Default().EnvelopeStream(0), topology.Default().EnvelopeFilter()}
}

// Ledger is the spec of a projection of the LEDGER stream.
func Ledger(p projector.RawProjection) Spec {
	return Spec{p, topology.Default().LedgerStream(0), topology.Default().LedgerFilter()}
}

// View is a projection's database and projector.
type View struct {
	Spec      Spec
	DB        *pebble.DB
	Projector *projector.Projector
	js        jetstream.JetStream
	closed    bool
}

// Open opens a view of spec in a new directory under t.TempDir(), with
// the projector's defaults, closed when the test ends.
func (e *Env) Open(t testing.TB, spec Spec) *View {
	t.Helper()
	return e.OpenAt(t, spec, nil, t.TempDir(), projector.Config{})
}

// OpenAt opens a view of spec at dir on fs (nil: the OS's), closed when
// the test ends; the projector is configured by cfg but for its stream.
func (e *Env) OpenAt(t testing.TB, spec Spec, fs vfs.FS, dir string, cfg projector.Config) *View {
	t.Helper()
	db, err := projector.Open(dir, fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := &View{Spec: spec, DB: db, js: e.JS}
	t.Cleanup(func() {
		if !v.closed {
			_ = db.Close()
		}
	})
	cfg.Stream, cfg.Filter = spec.Stream, spec.Filter
	if v.Projector, err = projector.NewRaw(db, spec.Proj, e.JS, cfg); err != nil {
		t.Fatal(err)
	}
	return v
}

// Last is the last sequence of the view's stream.
func (v *View) Last(t testing.TB) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	st, err := v.js.Stream(ctx, v.Spec.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// CatchUp applies the view's stream up to its last sequence.
func (v *View) CatchUp(t testing.TB) { v.CatchUpTo(t, v.Last(t)) }

// CatchUpTo applies the view's stream up to seq.
func (v *View) CatchUpTo(t testing.TB, seq uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	if err := v.Projector.CatchUp(ctx, seq); err != nil {
		t.Fatalf("%s: catch up to %d: %v", v.Spec.Proj.Name(), seq, err)
	}
}

// Close closes the view's database (the cleanup then does nothing).
func (v *View) Close(t testing.TB) {
	t.Helper()
	v.closed = true
	if err := v.DB.Close(); err != nil {
		t.Fatal(err)
	}
}
