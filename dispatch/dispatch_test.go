package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/dispatch"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/projections/outbox"
	"github.com/hongbao/hongbao/reconcile"
	"github.com/hongbao/hongbao/service"
)

var users = []string{"ann", "bob", "cat", "dan", "eve"}

// workload: envelopes, some opened to the end, some left to expire.
func workload(t *testing.T, h *testenv.Env, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = h.WrapAndPay("lucky", 1000, 4)
	}
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, id := range ids {
				if i%3 == 0 && u > "bob" {
					continue // leave some shares to be refunded
				}
				h.Open(id, u)
			}
		}()
	}
	wg.Wait()
	natstest.Eventually(t, 30*time.Second, func() error {
		for _, id := range ids {
			if s := h.Stored(id).Status; s != envelope.StatusFinished && s != envelope.StatusExpired {
				return fmt.Errorf("%s still %s", id, s)
			}
		}
		return nil
	})
	return ids
}

// expected is every transfer the stored events imply.
func expected(t *testing.T, h *testenv.Env, ids []string) map[string]ledger.Transfer {
	t.Helper()
	out := map[string]ledger.Transfer{}
	for _, id := range ids {
		recs, err := h.Store().Load(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		sender := h.Stored(id).Sender
		for _, r := range recs {
			for _, tr := range outbox.TransfersOf(r, sender) {
				out[tr.ID] = tr.Transfer
			}
		}
	}
	return out
}

// booked waits until the ledger holds exactly the expected transfers, each
// once, and returns the entries by id.
func booked(t *testing.T, h *testenv.Env, ids []string, want map[string]ledger.Transfer) {
	t.Helper()
	natstest.Eventually(t, 30*time.Second, func() error {
		n := 0
		for _, id := range ids {
			bal, es, _, err := h.Ledger.Escrow(context.Background(), id)
			if err != nil {
				return err
			}
			if err := inEscrowOrder(es); err != nil {
				t.Fatalf("escrow of %s: %v", id, err)
			}
			seen := map[string]bool{}
			for _, e := range es {
				if seen[e.ID] {
					t.Fatalf("%s booked twice", e.ID)
				}
				seen[e.ID] = true
				w, ok := want[e.ID]
				if !ok || !w.Same(e.Transfer) {
					t.Fatalf("booked %+v, expected %+v (%v)", e.Transfer, w, ok)
				}
				n++
			}
			if st := h.Stored(id).Status; (st == envelope.StatusFinished || st == envelope.StatusExpired) && len(es) > 0 && bal != 0 && len(seen) == countFor(want, id) {
				t.Fatalf("escrow of %s %s ends at %d", id, st, bal)
			}
		}
		if n != len(want) {
			return fmt.Errorf("%d of %d transfers booked", n, len(want))
		}
		return nil
	})
}

// inEscrowOrder checks that an escrow's entries are in its events' order,
// however many escrows the dispatcher delivers at once: the fund first,
// then the opens by index, the refund last.
func inEscrowOrder(es []ledger.Entry) error {
	last := 0
	for i, e := range es {
		switch e.Kind {
		case ledger.KindFund:
			if i != 0 {
				return fmt.Errorf("fund %s at position %d", e.ID, i)
			}
		case ledger.KindOpen:
			n, err := strconv.Atoi(e.ID[strings.LastIndexByte(e.ID, ':')+1:])
			if err != nil || i == 0 || n <= last {
				return fmt.Errorf("open %s at position %d, after open %d", e.ID, i, last)
			}
			last = n
		case ledger.KindRefund:
			if i != len(es)-1 {
				return fmt.Errorf("refund %s at position %d of %d", e.ID, i, len(es))
			}
		}
	}
	return nil
}

func countFor(want map[string]ledger.Transfer, id string) int {
	n := 0
	for _, t := range want {
		if t.EnvelopeID == id {
			n++
		}
	}
	return n
}

func shortExpiry() service.Config {
	l := envelope.DefaultLimits()
	l.Expiry = 2 * time.Second
	return service.Config{Limits: l}
}

// TestDeliversEverything: with the service's own dispatcher, every
// transfer lands once, escrows end at zero, wallets show the shares.
func TestDeliversEverything(t *testing.T) {
	h := testenv.Start(t, shortExpiry())
	ids := workload(t, h, 12)
	want := expected(t, h, ids)
	booked(t, h, ids, want)

	// Wallets, through the API, once the wallets view has the ledger.
	for _, u := range append(users, "alice") {
		var sum int64
		for _, tr := range want {
			if tr.Credit == ledger.WalletAccount(u) {
				sum += tr.Amount
			}
		}
		natstest.Eventually(t, 10*time.Second, func() error {
			w := testenv.Decode[api.WalletReply](t, h.Request("hongbao.wallet."+u, `{"limit":100}`))
			var entries int64
			for _, e := range w.Entries {
				entries += e.Amount
			}
			if w.Balance != sum || entries != sum {
				return fmt.Errorf("%s: balance %d, entries %d, want %d", u, w.Balance, entries, sum)
			}
			return nil
		})
	}
	var total int64
	if _, err := h.Views.Balances(context.Background(), func(_ string, b int64) { total += b }); err != nil {
		t.Fatal(err)
	}
	if total != 0 {
		t.Fatalf("balances sum to %d", total)
	}

	// The reconciler proves it from the streams alone.
	rep, err := reconcile.Run(context.Background(), h.Srv.JetStream(t), reconcile.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || !rep.Balanced || rep.Money.Sum != 0 || rep.Envelopes != len(ids) {
		t.Fatalf("reconcile: ok %v balanced %v sum %d envelopes %d: %v", rep.OK(), rep.Balanced, rep.Money.Sum, rep.Envelopes, rep.Discrepancies)
	}
	m := rep.Money
	if m.PaidIn != m.PaidOutOpens+m.Refunded+m.InEscrow || m.External != -m.PaidIn || m.InEscrow != 0 || m.Refunded == 0 {
		t.Fatalf("money does not add up: %+v", m)
	}
	h.ExpectError(h.Request("hongbao.wallet.bob.x", `{}`), "400", api.CodeBadRequest)
}

// TestKilledMidway: a dispatcher cancelled in the middle of its work and a
// new one started afterwards: every credit lands exactly once.
func TestKilledMidway(t *testing.T) {
	h := testenv.Start(t, shortExpiry(), testenv.WithoutDispatcher())
	ids := workload(t, h, 12)
	want := expected(t, h, ids)
	natstest.Eventually(t, 10*time.Second, func() error {
		if a := h.Views.Applied()["outbox"]; a < h.Stored(ids[len(ids)-1]).LastSeq {
			return fmt.Errorf("outbox at %d", a)
		}
		return nil
	})
	for round := 0; ; round++ {
		// Every other round delivers several escrows at once.
		d, err := dispatch.New(context.Background(), h.Srv.JetStream(t), h.Views, h.Ledger, dispatch.Config{BatchSize: 7, Escrows: 1 + 3*(round%2)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = d.Run(ctx) }()
		// Kill it as soon as it has delivered something this round.
		natstest.Eventually(t, 30*time.Second, func() error {
			if s := d.Stats(); s.Delivered+s.Duplicates == 0 {
				return errors.New("nothing delivered yet")
			}
			return nil
		})
		cancel()
		<-done
		if round == 20 {
			t.Fatal("20 rounds did not finish the outbox")
		}
		if d.Stats().Cursor >= h.Views.Applied()["outbox"] || round > 3 {
			break
		}
	}
	// A last dispatcher finishes the job.
	h.StartDispatcher()
	booked(t, h, ids, want)
}

// TestConcurrentEscrows: a dispatcher delivering 8 escrows at once books
// every transfer once, each escrow's in the order of its events (booked
// checks both).
func TestConcurrentEscrows(t *testing.T) {
	h := testenv.Start(t, shortExpiry(), testenv.WithoutDispatcher())
	ids := workload(t, h, 12)
	want := expected(t, h, ids)
	d, err := dispatch.New(context.Background(), h.Srv.JetStream(t), h.Views, h.Ledger, dispatch.Config{BatchSize: 64, Escrows: 8})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	booked(t, h, ids, want)
	if s := d.Stats(); s.Parked != 0 || s.Delivered != int64(len(want)) {
		t.Fatalf("stats %+v, want %d delivered, none parked", s, len(want))
	}
}

// TestLedgerOutage: the dispatcher starts while the NATS server (and so
// the ledger) is down; it retries, and after the restart finishes with
// every credit once.
func TestLedgerOutage(t *testing.T) {
	h := testenv.Start(t, shortExpiry(), testenv.WithoutDispatcher())
	ids := workload(t, h, 8)
	want := expected(t, h, ids)
	d, err := dispatch.New(context.Background(), h.Srv.JetStream(t), h.Views, h.Ledger, dispatch.Config{AttemptTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h.Srv.Shutdown()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	natstest.Eventually(t, 20*time.Second, func() error {
		if s := d.Stats(); s.Retries == 0 || s.LastError == "" {
			return errors.New("no retry yet")
		}
		return nil
	})
	if s := d.Stats(); s.Delivered != 0 {
		t.Fatalf("delivered %d with the server down", s.Delivered)
	}
	h.Srv.Restart(t)
	booked(t, h, ids, want)
}
