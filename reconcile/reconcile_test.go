package reconcile_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/reconcile"
	"github.com/hongbao/hongbao/topology"
)

// Two workloads: 20 envelopes with 6 opens (16 live, 4 expired) and 10
// with all 10 opens (8 finished, 2 expired after 9).
var mixed = []workload{{envelopes: 20, opensPer: 6, seed: 1}, {envelopes: 10, opensPer: 10, seed: 2}}

func run(t *testing.T, w *world, opts reconcile.Options) reconcile.Report {
	t.Helper()
	rep, err := reconcile.Run(context.Background(), w.js, opts)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

func dump(rep reconcile.Report) string {
	var b strings.Builder
	for _, d := range rep.Discrepancies {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	return b.String()
}

func TestCleanWorld(t *testing.T) {
	w := newWorld(t, mixed...)
	w.bookAll(t)
	var (
		mu    sync.Mutex
		calls []reconcile.Progress
	)
	rep := run(t, w, reconcile.Options{Progress: func(p reconcile.Progress) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, p)
	}})
	if !rep.OK() || len(rep.Discrepancies) != 0 || !rep.Balanced {
		t.Fatalf("clean world: balanced %v, %d discrepancies:\n%s", rep.Balanced, len(rep.Discrepancies), dump(rep))
	}

	nEvents, transfers := 0, 0
	for _, id := range w.ids {
		nEvents += len(w.recs[id])
		transfers += len(w.transfers(id))
	}
	if rep.Envelopes != 30 || rep.Events != nEvents || rep.Transfers != transfers || rep.Expected != transfers {
		t.Fatalf("counts: %d envelopes, %d events, %d transfers of %d expected; want 30, %d, %d, %d",
			rep.Envelopes, rep.Events, rep.Transfers, rep.Expected, nEvents, transfers, transfers)
	}
	want := map[string]int{"live": 16, "expired": 6, "finished": 8}
	for k, n := range want {
		if rep.ByState[k] != n {
			t.Fatalf("by state %v, want %v", rep.ByState, want)
		}
	}

	// The money adds up, and matches the events.
	m := rep.Money
	var total, opened, refunded int64
	for _, id := range w.ids {
		total += w.wrapped(id).Total
		for _, o := range w.opens(id) {
			opened += o.Amount
		}
		if e, ok := w.recs[id][len(w.recs[id])-1].Event.Data.(events.Expired); ok {
			refunded += e.Refund
		}
	}
	if m.PaidIn != total || m.PaidOutOpens != opened || m.Refunded != refunded {
		t.Fatalf("money %+v; events: paid %d, opened %d, refunded %d", m, total, opened, refunded)
	}
	if m.PaidIn != m.PaidOutOpens+m.Refunded+m.InEscrow || m.External != -m.PaidIn || m.Sum != 0 ||
		m.External+m.Wallets+m.InEscrow != 0 || m.Wallets != m.PaidOutOpens+m.Refunded {
		t.Fatalf("money does not add up: %+v", m)
	}

	mu.Lock()
	last := calls[len(calls)-1]
	mu.Unlock()
	if !last.Done || last.Events != uint64(nEvents) || last.EventsTotal != uint64(nEvents) || last.Transfers != uint64(transfers) {
		t.Fatalf("last progress %+v", last)
	}

	// Run leaves no consumer behind.
	before := consumers(t, w)
	run(t, w, reconcile.Options{})
	if after := consumers(t, w); after != before {
		t.Fatalf("consumers: %d before a run, %d after", before, after)
	}

	// Since: envelopes wrapped after it only; here none.
	late := run(t, w, reconcile.Options{Since: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)})
	if !late.OK() || late.Envelopes != 0 || late.Transfers != 0 || late.Money.PaidIn != 0 {
		t.Fatalf("since 2100: %d envelopes, %d transfers, %+v\n%s", late.Envelopes, late.Transfers, late.Money, dump(late))
	}
	// Since the wrap of the 11th envelope: it and the later ones.
	since := w.recs[w.ids[10]][0].Event.At
	part := run(t, w, reconcile.Options{Since: since})
	n := 0
	for _, id := range w.ids {
		if !w.recs[id][0].Event.At.Before(since) {
			n++
		}
	}
	if !part.OK() || part.Envelopes != n || n == 0 || n == 30 {
		t.Fatalf("since %s: %d envelopes, want %d\n%s", since, part.Envelopes, n, dump(part))
	}
}

// key identifies a discrepancy in a test.
type key struct{ kind, envelope, transfer string }

func keys(rep reconcile.Report) []key {
	var out []key
	for _, d := range rep.Discrepancies {
		out = append(out, key{d.Kind, d.EnvelopeID, d.TransferID})
	}
	return out
}

func find(rep reconcile.Report, kind, envelopeID string) (reconcile.Discrepancy, bool) {
	for _, d := range rep.Discrepancies {
		if d.Kind == kind && d.EnvelopeID == envelopeID {
			return d, true
		}
	}
	return reconcile.Discrepancy{}, false
}

// TestFaults injects one fault per envelope and expects exactly the
// discrepancies each implies: the fault's own, with its ids, and the ones
// that follow from it.
func TestFaults(t *testing.T) {
	w := newWorld(t, mixed...)
	used := map[string]bool{}
	amountEnv := w.pick(t, "live", used)
	w.bookAll(t, "open:"+amountEnv+":2")
	ctx := context.Background()
	var want []key

	// (a) a credit deleted from the ledger (mid-history: the entries after
	// it record balances the remaining ones no longer give).
	deleted := w.pick(t, "live", used)
	w.deleteTransfer(t, deleted, "open:"+deleted+":3")
	want = append(want, key{reconcile.KindMissingCredit, deleted, "open:" + deleted + ":3"},
		key{reconcile.KindUnbalanced, deleted, "open:" + deleted + ":4"})

	// (b) a credit booked twice, under another id, through the ledger: on a
	// live envelope whose escrow still covers it.
	var dupEnv, dupID string
	for dupEnv == "" {
		id := w.pick(t, "live", used)
		bal, _, _ := w.escrow(t, id)
		for _, o := range w.opens(id) {
			if o.Amount <= bal {
				dupEnv, dupID = id, fmt.Sprintf("open:%s:%d", id, o.Index)
				break
			}
		}
	}
	var orig ledger.Transfer
	for _, tr := range w.transfers(dupEnv) {
		if tr.ID == dupID {
			orig = tr.Transfer
		}
	}
	bis := orig
	bis.ID += "-bis"
	if _, err := w.led.Transfer(ctx, bis); err != nil {
		t.Fatal(err)
	}
	want = append(want, key{reconcile.KindDuplicateCredit, dupEnv, bis.ID}, key{reconcile.KindEscrowNotZero, dupEnv, ""})

	// (c) an amount altered: a raw entry with the expected id of a transfer
	// that was not booked, one fen more.
	var altered ledger.Transfer
	for _, tr := range w.transfers(amountEnv) {
		if tr.ID == "open:"+amountEnv+":2" {
			altered = tr.Transfer
		}
	}
	altered.Amount++
	alteredSeq := w.publishEntry(t, altered)
	want = append(want, key{reconcile.KindAmountMismatch, amountEnv, altered.ID}, key{reconcile.KindEscrowNotZero, amountEnv, ""})

	// (d) a forged Opened whose share the seed does not give.
	var forgedEnv string
	for forgedEnv == "" {
		id := w.pick(t, "live", used)
		if w.wrapped(id).Kind == events.KindLucky {
			forgedEnv = id
		}
	}
	wr, opens := w.wrapped(forgedEnv), w.opens(forgedEnv)
	prev := opens[len(opens)-1]
	derived := envelope.LuckyShare(wr.Seed, len(opens)+1, prev.RemainingAmount, prev.RemainingCount, wr.MinShare, wr.MaxShare)
	forged := derived + 1
	if forged > prev.RemainingAmount-int64(prev.RemainingCount-1)*wr.MinShare || forged > wr.MaxShare {
		forged = derived - 1
	}
	forgedSeq := w.publishEvent(t, forgedEnv, events.Opened{User: "forger", Amount: forged, Index: len(opens) + 1,
		RemainingAmount: prev.RemainingAmount - forged, RemainingCount: prev.RemainingCount - 1})
	forgedID := fmt.Sprintf("open:%s:%d", forgedEnv, len(opens)+1)
	want = append(want, key{reconcile.KindShareNotDerivable, forgedEnv, ""}, key{reconcile.KindMissingCredit, forgedEnv, forgedID})

	// (e) an Opened beyond count on a finished envelope.
	fin := w.pick(t, "finished", used)
	beyondSeq := w.publishEvent(t, fin, events.Opened{User: "extra", Amount: 1, Index: w.wrapped(fin).Count + 1})
	beyondID := fmt.Sprintf("open:%s:%d", fin, w.wrapped(fin).Count+1)
	want = append(want, key{reconcile.KindOverIssue, fin, ""}, key{reconcile.KindMissingCredit, fin, beyondID})

	// (f) a user opening twice, with the right share and remaining fields.
	twice := w.pick(t, "live", used)
	wr, opens = w.wrapped(twice), w.opens(twice)
	prev = opens[len(opens)-1]
	share := wr.Total / int64(wr.Count)
	if wr.Kind == events.KindLucky {
		share = envelope.LuckyShare(wr.Seed, len(opens)+1, prev.RemainingAmount, prev.RemainingCount, wr.MinShare, wr.MaxShare)
	}
	twiceSeq := w.publishEvent(t, twice, events.Opened{User: opens[0].User, Amount: share, Index: len(opens) + 1,
		RemainingAmount: prev.RemainingAmount - share, RemainingCount: prev.RemainingCount - 1})
	twiceID := fmt.Sprintf("open:%s:%d", twice, len(opens)+1)
	want = append(want, key{reconcile.KindDuplicateOpen, twice, ""}, key{reconcile.KindMissingCredit, twice, twiceID})

	// (g) a credit no event implies.
	orphanEnv := w.pick(t, "expired", used)
	orphan := ledger.Transfer{ID: "bonus:" + orphanEnv, Kind: ledger.KindFund, EnvelopeID: orphanEnv,
		Debit: ledger.AccountExternal, Credit: ledger.EscrowAccount(orphanEnv), Amount: 500, At: time.Now()}
	w.publishEntry(t, orphan)
	want = append(want, key{reconcile.KindOrphanTransfer, orphanEnv, orphan.ID}, key{reconcile.KindEscrowNotZero, orphanEnv, ""})

	rep := run(t, w, reconcile.Options{})
	got := keys(rep)
	sortKeys(want)
	sortKeys(got)
	if !slices.Equal(got, want) {
		t.Fatalf("discrepancies:\n%s\nwant keys %v", dump(rep), want)
	}
	if rep.OK() || rep.Balanced {
		t.Fatalf("a faulty world is OK (balanced %v)", rep.Balanced)
	}

	// The details that identify each fault.
	check := func(kind, env string, ok func(reconcile.Discrepancy) bool) {
		t.Helper()
		d, found := find(rep, kind, env)
		if !found || !ok(d) {
			t.Errorf("%s on %s: %+v", kind, env, d)
		}
	}
	check(reconcile.KindMissingCredit, deleted, func(d reconcile.Discrepancy) bool {
		return d.Repairable && d.Transfer != nil && d.Transfer.ID == d.TransferID && d.Want == w.opens(deleted)[2].Amount && d.User == w.opens(deleted)[2].User
	})
	check(reconcile.KindDuplicateCredit, dupEnv, func(d reconcile.Discrepancy) bool {
		return strings.Contains(d.Detail, dupID) && d.Got == orig.Amount
	})
	check(reconcile.KindAmountMismatch, amountEnv, func(d reconcile.Discrepancy) bool {
		return d.Want == altered.Amount-1 && d.Got == altered.Amount && d.LedgerSeq == alteredSeq
	})
	check(reconcile.KindShareNotDerivable, forgedEnv, func(d reconcile.Discrepancy) bool {
		return d.Seq == forgedSeq && d.User == "forger" && d.Want == derived && d.Got == forged && d.Invariant == "I2"
	})
	check(reconcile.KindMissingCredit, forgedEnv, func(d reconcile.Discrepancy) bool { return !d.Repairable })
	check(reconcile.KindOverIssue, fin, func(d reconcile.Discrepancy) bool {
		return d.Seq == beyondSeq && d.User == "extra" && strings.Contains(d.Detail, "of an envelope of 10 shares")
	})
	check(reconcile.KindMissingCredit, fin, func(d reconcile.Discrepancy) bool { return !d.Repairable })
	check(reconcile.KindDuplicateOpen, twice, func(d reconcile.Discrepancy) bool {
		return d.Seq == twiceSeq && d.User == opens[0].User && d.Invariant == "I3"
	})

	// Repair touches none of the forged ones: only the deleted credit.
	led2, err := ledger.Open(ctx, w.js, ledger.Config{AllowDeletes: true})
	if err != nil {
		t.Fatal(err)
	}
	issued, err := reconcile.Repair(ctx, led2, rep)
	if err != nil || issued != 1 {
		t.Fatalf("Repair: issued %d, %v", issued, err)
	}
	after := run(t, w, reconcile.Options{})
	if _, still := find(after, reconcile.KindMissingCredit, deleted); still {
		t.Fatalf("the deleted credit is still missing:\n%s", dump(after))
	}
	for _, env := range []string{forgedEnv, fin, twice} {
		if _, still := find(after, reconcile.KindMissingCredit, env); !still {
			t.Fatalf("a forged event's credit was repaired on %s:\n%s", env, dump(after))
		}
	}
}

func sortKeys(ks []key) {
	sort.Slice(ks, func(i, j int) bool {
		a, b := ks[i], ks[j]
		if a.envelope != b.envelope {
			return a.envelope < b.envelope
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		return a.transfer < b.transfer
	})
}

func TestRepair(t *testing.T) {
	w := newWorld(t, workload{envelopes: 10, opensPer: 6, seed: 3})
	w.bookAll(t)
	ctx := context.Background()
	env := w.pick(t, "live", map[string]bool{})
	removed := fmt.Sprintf("open:%s:6", env) // its escrow's last entry
	w.deleteTransfer(t, env, removed)

	rep := run(t, w, reconcile.Options{})
	if len(rep.Discrepancies) != 1 {
		t.Fatalf("want 1 missing credit:\n%s", dump(rep))
	}
	if d := rep.Discrepancies[0]; d.Kind != reconcile.KindMissingCredit || d.TransferID != removed || !d.Repairable {
		t.Fatalf("want the missing credit %s: %+v", removed, d)
	}
	// Within the grace, the credit is in flight, not missing.
	if g := run(t, w, reconcile.Options{Grace: time.Hour}); !g.OK() || g.InFlight != 1 {
		t.Fatalf("with a grace: in flight %d\n%s", g.InFlight, dump(g))
	}

	// A ledger that has not cached the escrow (the deletion is invisible
	// to one that has).
	led, err := ledger.Open(ctx, w.js, ledger.Config{AllowDeletes: true})
	if err != nil {
		t.Fatal(err)
	}
	issued, err := reconcile.Repair(ctx, led, rep)
	if err != nil || issued != 1 {
		t.Fatalf("Repair: issued %d, %v", issued, err)
	}
	again := run(t, w, reconcile.Options{})
	if !again.OK() {
		t.Fatalf("after repair:\n%s", dump(again))
	}
	for _, r := range []reconcile.Report{rep, again} {
		if issued, err := reconcile.Repair(ctx, led, r); err != nil || issued != 0 {
			t.Fatalf("Repair again: issued %d, %v", issued, err)
		}
	}
	if final := run(t, w, reconcile.Options{}); !final.OK() || final.Transfers != again.Transfers {
		t.Fatalf("after repeated repairs: %d transfers (was %d)\n%s", final.Transfers, again.Transfers, dump(final))
	}
}

func TestAudit(t *testing.T) {
	w := newWorld(t, mixed...)
	w.bookAll(t)
	ctx := context.Background()
	used := map[string]bool{}

	for _, status := range []string{"live", "expired", "finished"} {
		id := w.pick(t, status, used)
		a, err := reconcile.Audit(ctx, w.js, topology.Topology{}, id)
		if err != nil {
			t.Fatal(err)
		}
		if !a.OK || a.State != status || len(a.History) != len(w.recs[id]) || len(a.Other) != 0 {
			t.Fatalf("audit of a clean %s envelope: ok %v state %s, %d rows, other %v, %v", status, a.OK, a.State, len(a.History), a.Other, a.Discrepancies)
		}
		for _, v := range a.Invariants {
			if !v.OK {
				t.Fatalf("%s broken on a clean envelope", v.Invariant)
			}
		}
		opens := 0
		for _, r := range a.History {
			if r.Type == "opened" {
				opens++
				if r.Derived == nil || *r.Derived != r.Amount {
					t.Fatalf("row %+v: share not re-derived", r)
				}
			}
			for _, tr := range r.Transfers {
				if len(tr.Booked) != 1 || tr.Booked[0].Amount != tr.Amount || tr.Booked[0].ID != tr.ID {
					t.Fatalf("row %d: transfer %+v", r.Seq, tr)
				}
			}
		}
		if opens != len(w.opens(id)) {
			t.Fatalf("%d opened rows, want %d", opens, len(w.opens(id)))
		}
		if status != "live" && a.Escrow != 0 {
			t.Fatalf("%s envelope with escrow %d", status, a.Escrow)
		}
	}

	// A forged share.
	id := w.pick(t, "live", used)
	wr, opens := w.wrapped(id), w.opens(id)
	prev := opens[len(opens)-1]
	share := wr.Total / int64(wr.Count)
	if wr.Kind == events.KindLucky {
		share = envelope.LuckyShare(wr.Seed, len(opens)+1, prev.RemainingAmount, prev.RemainingCount, wr.MinShare, wr.MaxShare)
	}
	seq := w.publishEvent(t, id, events.Opened{User: "forger", Amount: share + 1, Index: len(opens) + 1,
		RemainingAmount: prev.RemainingAmount - share - 1, RemainingCount: prev.RemainingCount - 1})
	a, err := reconcile.Audit(ctx, w.js, topology.Topology{}, id)
	if err != nil {
		t.Fatal(err)
	}
	last := a.History[len(a.History)-1]
	if a.OK || last.Seq != seq || last.Derived == nil || *last.Derived != share || last.Amount != share+1 ||
		!slices.Contains(last.Problems, reconcile.KindShareNotDerivable) {
		t.Fatalf("audit of a forged share: ok %v, last row %+v, %v", a.OK, last, a.Discrepancies)
	}
	if _, found := findIn(a.Discrepancies, reconcile.KindShareNotDerivable); !found {
		t.Fatalf("no share_not_derivable: %v", a.Discrepancies)
	}
	for _, v := range a.Invariants {
		if (v.Invariant == "I2") == v.OK && v.Invariant != "I4" {
			t.Fatalf("verdict %+v", v)
		}
	}

	if _, err := reconcile.Audit(ctx, w.js, topology.Topology{}, "01ARZ3NDEKTSV4RRFFQ69G5FAV"); err == nil {
		t.Fatal("audit of an unknown envelope succeeded")
	}
}

func findIn(ds []reconcile.Discrepancy, kind string) (reconcile.Discrepancy, bool) {
	for _, d := range ds {
		if d.Kind == kind {
			return d, true
		}
	}
	return reconcile.Discrepancy{}, false
}

func TestPeriodic(t *testing.T) {
	w := newWorld(t, workload{envelopes: 5, opensPer: 3, seed: 4})
	w.bookAll(t)
	p := reconcile.NewPeriodic(w.js, time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	natstest.Eventually(t, 30*time.Second, func() error {
		rep, at, err := p.Last()
		switch {
		case err != nil:
			return err
		case at.IsZero():
			return fmt.Errorf("no run yet")
		case !rep.OK() || rep.Envelopes != 5:
			return fmt.Errorf("report: %d envelopes\n%s", rep.Envelopes, dump(rep))
		}
		return nil
	})
	cancel()
	<-done
}

func TestEmpty(t *testing.T) {
	srv := natstest.Start(t)
	rep, err := reconcile.Run(context.Background(), srv.JetStream(t), reconcile.Options{})
	if err != nil || !rep.OK() || rep.Envelopes != 0 {
		t.Fatalf("no streams: %v %+v", err, rep)
	}
}

func consumers(t *testing.T, w *world) int {
	t.Helper()
	n := 0
	for _, name := range []string{"ENVELOPES", "LEDGER"} {
		st, err := w.js.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		n += st.CachedInfo().State.Consumers
	}
	return n
}

// TestMoreFaults covers the other kinds, and that Repair pays nothing that
// a forged event or a look-alike entry stands behind.
func TestMoreFaults(t *testing.T) {
	w := newWorld(t, workload{envelopes: 15, opensPer: 6, seed: 5})
	used := map[string]bool{}
	lookEnv := w.pick(t, "live", used)
	w.bookAll(t, "open:"+lookEnv+":2")
	ctx := context.Background()
	var want []key

	// An expiry refunding one fen too little.
	refundEnv := w.pick(t, "live", used)
	opens := w.opens(refundEnv)
	left := opens[len(opens)-1].RemainingAmount
	w.publishEvent(t, refundEnv, events.Expired{Refund: left - 1, OpenedCount: len(opens)})
	want = append(want, key{reconcile.KindRefundMismatch, refundEnv, ""}, key{reconcile.KindMissingCredit, refundEnv, "refund:" + refundEnv},
		key{reconcile.KindEscrowNotZero, refundEnv, ""})

	// A second payment, and an event that does not decode.
	paidEnv := w.pick(t, "live", used)
	w.publishEvent(t, paidEnv, events.Paid{PaymentID: "again", Amount: w.wrapped(paidEnv).Total, ExpiresAt: time.Now()})
	if _, err := w.js.Publish(ctx, "envelope."+paidEnv, []byte(`{"type":"opened","v":1}`)); err != nil {
		t.Fatal(err)
	}
	want = append(want, key{reconcile.KindInvalidHistory, paidEnv, ""}, key{reconcile.KindMalformedEvent, paidEnv, ""})

	// An entry that is no valid transfer (amount 0).
	zeroEnv := w.pick(t, "live", used)
	w.publishEntry(t, ledger.Transfer{ID: "zero:" + zeroEnv, Kind: ledger.KindOpen, EnvelopeID: zeroEnv,
		Debit: ledger.EscrowAccount(zeroEnv), Credit: ledger.WalletAccount("mallory"), Amount: 0, At: time.Now()})
	want = append(want, key{reconcile.KindUnbalanced, zeroEnv, "zero:" + zeroEnv}, key{reconcile.KindOrphanTransfer, zeroEnv, "zero:" + zeroEnv})

	// The same id booked twice (bypassing the ledger's idempotency).
	var sameEnv string
	var same ledger.Transfer
	for sameEnv == "" {
		id := w.pick(t, "live", used)
		bal, _, _ := w.escrow(t, id)
		for _, tr := range w.transfers(id) {
			if tr.Kind == ledger.KindOpen && tr.Amount <= bal {
				sameEnv, same = id, tr.Transfer
				break
			}
		}
	}
	w.publishEntry(t, same)
	want = append(want, key{reconcile.KindDuplicateCredit, sameEnv, same.ID}, key{reconcile.KindEscrowNotZero, sameEnv, ""})

	// A credit booked under another id only: a look-alike, not a duplicate.
	var look ledger.Transfer
	for _, tr := range w.transfers(lookEnv) {
		if tr.ID == "open:"+lookEnv+":2" {
			look = tr.Transfer
		}
	}
	look.ID += "-x"
	w.publishEntry(t, look)
	want = append(want, key{reconcile.KindOrphanTransfer, lookEnv, look.ID}, key{reconcile.KindMissingCredit, lookEnv, "open:" + lookEnv + ":2"})

	// An open that skips an index (share and remaining fields right).
	skipEnv := w.pick(t, "live", used)
	wr, sk := w.wrapped(skipEnv), w.opens(skipEnv)
	prev := sk[len(sk)-1]
	share := wr.Total / int64(wr.Count)
	if wr.Kind == events.KindLucky {
		share = envelope.LuckyShare(wr.Seed, len(sk)+1, prev.RemainingAmount, prev.RemainingCount, wr.MinShare, wr.MaxShare)
	}
	skipSeq := w.publishEvent(t, skipEnv, events.Opened{User: "skipper", Amount: share, Index: len(sk) + 2,
		RemainingAmount: prev.RemainingAmount - share, RemainingCount: prev.RemainingCount - 1})
	want = append(want, key{reconcile.KindOverIssue, skipEnv, ""}, key{reconcile.KindMissingCredit, skipEnv, fmt.Sprintf("open:%s:%d", skipEnv, len(sk)+2)})

	rep := run(t, w, reconcile.Options{})
	got := keys(rep)
	sortKeys(want)
	sortKeys(got)
	if !slices.Equal(got, want) {
		t.Fatalf("discrepancies:\n%s\nwant keys %v", dump(rep), want)
	}
	if d, _ := find(rep, reconcile.KindOverIssue, skipEnv); d.Seq != skipSeq || d.Want != int64(len(sk)+1) || d.Got != int64(len(sk)+2) || d.Invariant != "I3" {
		t.Fatalf("skipped index: %s", d)
	}
	if rep.Balanced {
		t.Fatal("an entry of 0 fen, and balanced")
	}
	for _, d := range rep.Discrepancies {
		if d.Repairable {
			t.Fatalf("repairable: %s", d)
		}
	}
	led, err := ledger.Open(ctx, w.js, ledger.Config{AllowDeletes: true})
	if err != nil {
		t.Fatal(err)
	}
	if issued, err := reconcile.Repair(ctx, led, rep); issued != 0 || err != nil {
		t.Fatalf("Repair issued %d, %v", issued, err)
	}
}

// TestOtherTopology runs a deployment on streams and subjects of its own:
// Run and Audit find its money where its Topology says, and nothing where
// the default one does.
func TestOtherTopology(t *testing.T) {
	top := topology.Topology{EnvelopeStreamName: "T_ENV", LedgerStreamName: "T_LED", EnvelopePrefix: "t.env", LedgerPrefix: "t.led"}
	w := newWorldIn(t, top, workload{envelopes: 10, opensPer: 4, seed: 7})
	w.bookAll(t)
	rep := run(t, w, reconcile.Options{Topology: top})
	if !rep.OK() || rep.Envelopes != 10 || rep.Transfers == 0 || rep.Transfers != rep.Expected {
		t.Fatalf("reconcile of another topology: %d envelopes, %d of %d transfers\n%s", rep.Envelopes, rep.Transfers, rep.Expected, dump(rep))
	}
	if def := run(t, w, reconcile.Options{}); def.Envelopes != 0 || def.Transfers != 0 {
		t.Fatalf("the default topology sees %d envelopes, %d transfers", def.Envelopes, def.Transfers)
	}

	id := w.ids[0]
	a, err := reconcile.Audit(context.Background(), w.js, top, id)
	if err != nil {
		t.Fatal(err)
	}
	if !a.OK || len(a.History) != len(w.recs[id]) || len(a.Other) != 0 {
		t.Fatalf("audit: ok %v, %d rows, other %v, %v", a.OK, len(a.History), a.Other, a.Discrepancies)
	}
	if _, err := reconcile.Audit(context.Background(), w.js, topology.Topology{}, id); !errors.Is(err, reconcile.ErrNotFound) {
		t.Fatalf("audit in the default topology: %v, want ErrNotFound", err)
	}

	// An entry off the escrow subjects is named against this ledger's.
	led := w.top.LedgerFilter()
	if _, err := w.js.Publish(context.Background(), led[:len(led)-1]+"stray", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	rep = run(t, w, reconcile.Options{Topology: top})
	if !slices.ContainsFunc(rep.Discrepancies, func(d reconcile.Discrepancy) bool {
		return strings.Contains(d.Detail, "stored on subject t.led.stray, not t.led.escrow.<envelope>")
	}) {
		t.Fatalf("stray entry: %v", rep.Discrepancies)
	}
}
