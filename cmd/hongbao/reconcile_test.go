package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/reconcile"
)

func decodeReport(t *testing.T, out string) reconcile.Report {
	t.Helper()
	var rep reconcile.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out)
	}
	return rep
}

// TestReconcileCLI: reconcile and audit over --nats-url, on workload
// histories whose credits are first all missing, then repaired, then one
// deleted.
func TestReconcileCLI(t *testing.T) {
	srv := natstest.Start(t, natstest.WithListen(), natstest.WithSyncInterval(2*time.Minute))
	js := srv.JetStream(t)
	testenv.PublishWorkload(t, js, 10, 6, 11)
	ctx := context.Background()
	led, err := ledger.Open(ctx, js, ledger.Config{AllowDeletes: true}) // deletes: for the fault below
	if err != nil {
		t.Fatal(err)
	}
	url := srv.URL()

	// Nothing booked yet: every credit is missing.
	code, out, errOut := runCLI(t, "reconcile", "--nats-url", url, "--json")
	rep := decodeReport(t, out)
	if code != 1 || rep.Expected == 0 || len(rep.Discrepancies) != rep.Expected {
		t.Fatalf("empty ledger: exit %d, %d discrepancies for %d transfers\n%s", code, len(rep.Discrepancies), rep.Expected, errOut)
	}
	for _, d := range rep.Discrepancies {
		if d.Kind != reconcile.KindMissingCredit || !d.Repairable {
			t.Fatalf("empty ledger: %s", d)
		}
	}

	// --repair books them all, then finds nothing.
	code, out, errOut = runCLI(t, "reconcile", "--nats-url", url, "--repair")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("issued %d compensating transfers", rep.Expected)) ||
		!strings.Contains(out, "after the repair") || !strings.HasSuffix(out, "OK: no discrepancies; the money adds up.\n") {
		t.Fatalf("repair: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "reconcile", "--nats-url", url, "--json")
	if rep = decodeReport(t, out); code != 0 || !rep.OK() || rep.Transfers != rep.Expected || rep.Envelopes != 10 {
		t.Fatalf("after repair: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "connected to NATS at "+url) {
		t.Fatalf("no connection note on stderr:\n%s", errOut)
	}
	code, out, _ = runCLI(t, "reconcile", "--nats-url", url, "--repair")
	if code != 0 || !strings.Contains(out, "nothing to repair") {
		t.Fatalf("repair of a clean world: exit %d\n%s", code, out)
	}

	// Audit an envelope.
	envs, err := js.Stream(ctx, "ENVELOPES")
	if err != nil {
		t.Fatal(err)
	}
	first, err := envs.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(first.Subject, "envelope.")
	code, out, errOut = runCLI(t, "audit", id, "--nats-url", url)
	for _, want := range []string{"envelope " + id, "wrapped", "paid", "opened", "fund:" + id, "open:" + id + ":1", "I2  ok", "OK: the envelope keeps every invariant."} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("audit: exit %d, no %q in\n%s\n%s", code, want, out, errOut)
		}
	}
	code, out, _ = runCLI(t, "audit", "--json", "--nats-url", url, id)
	var a reconcile.AuditReport
	if err := json.Unmarshal([]byte(out), &a); code != 0 || err != nil || !a.OK || a.EnvelopeID != id || len(a.History) < 3 {
		t.Fatalf("audit --json: exit %d, %v\n%s", code, err, out)
	}

	// A fault: the ledger's last entry deleted.
	info, err := led.Stream().Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last, err := led.Stream().GetMsg(ctx, info.State.LastSeq)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := ledger.DecodeEntry(last.Data)
	if err != nil {
		t.Fatal(err)
	}
	if err := led.Stream().DeleteMsg(ctx, last.Sequence); err != nil {
		t.Fatal(err)
	}
	code, out, _ = runCLI(t, "reconcile", "--nats-url", url, "--json")
	rep = decodeReport(t, out)
	found := false
	for _, d := range rep.Discrepancies {
		found = found || (d.Kind == reconcile.KindMissingCredit && d.TransferID == entry.ID && d.EnvelopeID == entry.EnvelopeID)
	}
	if code != 1 || !found {
		t.Fatalf("after deleting %s: exit %d\n%s", entry.ID, code, out)
	}
	code, out, errOut = runCLI(t, "reconcile", "--nats-url", url)
	if code != 1 || !strings.Contains(out, "DISCREPANCIES") || !strings.Contains(out, entry.ID) || !strings.Contains(errOut, "invariants broken") {
		t.Fatalf("human report: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "audit", entry.EnvelopeID, "--nats-url", url)
	if code != 1 || !strings.Contains(out, "MISSING "+entry.ID) || !strings.Contains(out, "I4  BROKEN (missing_credit)") {
		t.Fatalf("audit of the envelope: exit %d\n%s", code, out)
	}

	// Usage errors.
	for _, args := range [][]string{
		{"audit", "not-an-id", "--nats-url", url},
		{"audit", strings.ToLower(id), "--nats-url", url},
		{"audit", id + "0", "--nats-url", url},
		{"audit", "--nats-url", url},
		{"audit", id, "extra", "--nats-url", url},
		{"reconcile", "--since", "yesterday", "--nats-url", url},
		{"reconcile", "--grace", "-1s", "--nats-url", url},
	} {
		if code, _, errOut := runCLI(t, args...); code != 2 {
			t.Fatalf("hongbao %v: exit %d, want 2\n%s", args, code, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "audit", "0123456789ABCDEFGHJKMNPQRS", "--nats-url", url); code != exitFailed || !strings.Contains(errOut, "no such envelope") {
		t.Fatalf("audit of an unknown envelope: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "audit", "not-an-id"); code != 2 || !strings.Contains(errOut, `"not-an-id" is not an envelope id`) {
		t.Fatalf("bad id: exit %d\n%s", code, errOut)
	}
}

// TestReconcileOffline: with the server stopped, --data is opened with an
// embedded server; an explicit --nats-url that does not answer is an error,
// never a silent fallback.
func TestReconcileOffline(t *testing.T) {
	srv := natstest.Start(t, natstest.WithSyncInterval(2*time.Minute))
	js := srv.JetStream(t)
	testenv.PublishWorkload(t, js, 3, 2, 12)
	bookAllWith(t, js)
	srv.Shutdown()

	data := srv.StoreDir()
	code, out, errOut := runCLI(t, "reconcile", "--offline", "--data", data) // no nats.conf here: built-in defaults
	if code != 0 || !strings.Contains(out, "envelopes  3 ") || !strings.Contains(errOut, "opened the data directory "+data) {
		t.Fatalf("offline: exit %d\n%s\n%s", code, out, errOut)
	}
	absent := filepath.Join(t.TempDir(), "absent.conf")
	code, _, errOut = runCLI(t, "reconcile", "--offline", "--data", data, "--config", absent)
	if code != exitUsage || !strings.Contains(errOut, "absent.conf") {
		t.Fatalf("a --config that does not exist: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI(t, "reconcile", "--nats-url", fmt.Sprintf("nats://127.0.0.1:%d", freePort(t)), "--data", data)
	if code != exitUnavailable || !strings.Contains(errOut, "cannot connect to NATS at nats://127.0.0.1:") || strings.Contains(errOut, "nats: ") {
		t.Fatalf("explicit unreachable URL: exit %d\n%s", code, errOut)
	}
	empty := filepath.Join(t.TempDir(), "data")
	code, _, errOut = runCLI(t, "reconcile", "--offline", "--data", empty)
	if code != exitUnavailable || !strings.Contains(errOut, "holds no stopped service's data") {
		t.Fatalf("missing data dir: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Fatalf("reconcile created %s", empty)
	}
}

// bookAllWith books every transfer the events imply, through the library.
func bookAllWith(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx := context.Background()
	led, err := ledger.Open(ctx, js, ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := reconcile.Run(ctx, js, reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reconcile.Repair(ctx, led, rep); err != nil {
		t.Fatal(err)
	}
}
