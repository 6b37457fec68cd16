package projections_test

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/projections/outbox"
	"github.com/hongbao/hongbao/projections/users"
	"github.com/hongbao/hongbao/service"
)

var userPool = []string{"ann", "bob", "cat", "dan", "eve", "fay", "gus", "hal", "ivy", "jon", "kim", "lea"}

// workload wraps and pays envelopes, opens them concurrently from a pool of
// users (some to the end, some not), and waits until every envelope has
// finished or expired and every projection has caught up.
func workload(t *testing.T, h *testenv.Env, envelopes int) []string {
	t.Helper()
	ids := make([]string, envelopes)
	for i := range ids {
		ids[i] = h.WrapAndPay([]string{"lucky", "equal"}[i%2], 100*int64(5+i%7), 5+i%7)
	}
	var wg sync.WaitGroup
	for w, user := range userPool {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for _, i := range rng.Perm(len(ids)) {
				if i%4 == 3 && rng.IntN(2) == 0 {
					continue // some envelopes are left to expire
				}
				o := h.Open(ids[i], user)
				if o.Status != api.StatusOpened && o.Status != api.StatusExhausted && o.Status != api.StatusExpired {
					t.Errorf("open %s by %s: %s", ids[i], user, o.Status)
				}
			}
		}()
	}
	wg.Wait()
	natstest.Eventually(t, 30*time.Second, func() error {
		for _, id := range ids {
			if s := h.Stored(id).Status; s != envelope.StatusFinished && s != envelope.StatusExpired {
				return fmt.Errorf("%s is %s", id, s)
			}
		}
		return caughtUp(h.Views)
	})
	return ids
}

func caughtUp(set *projections.Set) error {
	lags, err := set.Status(context.Background())
	if err != nil {
		return err
	}
	for _, l := range lags {
		if l.Lag != 0 {
			return fmt.Errorf("%s lags %d", l.Name, l.Lag)
		}
	}
	return nil
}

func verifyAll(t *testing.T, set *projections.Set) {
	t.Helper()
	for _, name := range projections.Names {
		res, err := set.Verify(context.Background(), name, nil)
		if err != nil {
			t.Fatalf("verify %s: %v", name, err)
		}
		if res.Count != 0 || (res.Rows == 0 && res.Checkpoint > 0) {
			t.Fatalf("verify %s: %d rows, %d differences: %+v", name, res.Rows, res.Count, res.Differences)
		}
	}
}

func shortExpiry() service.Config {
	l := envelope.DefaultLimits()
	l.Expiry = 2 * time.Second
	return service.Config{Limits: l}
}

// TestViews runs a concurrent workload with expiries, then checks the read
// models against the stream and against themselves.
func TestViews(t *testing.T) {
	h := testenv.Start(t, shortExpiry())
	ids := workload(t, h, 40)
	year := users.Year(time.Now())

	t.Run("I6: every projection equals a fresh rebuild", func(t *testing.T) { verifyAll(t, h.Views) })

	t.Run("details match the aggregate; one best luck per finished envelope", func(t *testing.T) {
		for _, id := range ids {
			e := h.Stored(id)
			g := h.Get(id, 0)
			testenv.Eq(t, "opened_total", g.Envelope.OpenedTotal, e.OpenedTotal)
			testenv.Eq(t, "refunded", g.Envelope.Refunded, e.Refund)
			testenv.Eq(t, "opens", len(g.Opens), len(e.Opens))
			best := 0
			for i, o := range g.Opens {
				testenv.Eq(t, "open amount", o.Amount, e.Opens[i].Amount)
				if o.BestLuck {
					best++
				}
			}
			want := 0
			if e.Status == envelope.StatusFinished {
				want = 1
			}
			testenv.Eq(t, "best luck marks of "+id, best, want)
		}
	})

	t.Run("the outbox lists every transfer the events imply, in stream order", func(t *testing.T) {
		var want []outbox.Transfer
		for _, id := range ids {
			recs, err := h.Store().Load(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				want = append(want, outbox.TransfersOf(r, h.Stored(id).Sender)...)
			}
		}
		slices.SortFunc(want, func(a, b outbox.Transfer) int { return cmp.Compare(a.Seq, b.Seq) })
		got, err := h.Views.Outbox(context.Background(), 0, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		testenv.Eq(t, "transfers", len(got), len(want))
		for i := range want {
			g, w := got[i], want[i]
			if !g.At.Equal(w.At) {
				t.Fatalf("transfer %d at %v, want %v", i, g.At, w.At)
			}
			if g.At = w.At; g != w {
				t.Fatalf("transfer %d:\n%+v\nwant\n%+v", i, g, w)
			}
		}
	})

	t.Run("user totals equal the sum of their items", func(t *testing.T) {
		bestLuck := 0
		for _, u := range userPool {
			items, totals := receivedAll(t, h, u, year, 3)
			var sum int64
			best := 0
			for _, it := range items {
				sum += it.Amount
				if it.BestLuck {
					best++
				}
			}
			testenv.Eq(t, u+" count", totals.Count, len(items))
			testenv.Eq(t, u+" amount", totals.Amount, sum)
			testenv.Eq(t, u+" best luck", totals.BestLuckCount, best)
			bestLuck += best
		}
		finished := 0
		for _, id := range ids {
			if h.Stored(id).Status == envelope.StatusFinished {
				finished++
			}
		}
		testenv.Eq(t, "best-luck items across users", bestLuck, finished)

		sent := testenv.Decode[api.SentReply](t, h.Request("hongbao.user.sent", map[string]any{"user": "alice", "year": year, "limit": 100}))
		testenv.Eq(t, "sent count", sent.Totals.Count, len(ids))
		testenv.Eq(t, "sent items", len(sent.Items), len(ids))
		var total, refunded int64
		for _, it := range sent.Items {
			total += it.Total
			refunded += it.Refunded
			if it.State != api.StateFinished && it.State != api.StateExpired {
				t.Fatalf("sent item %s is %s", it.EnvelopeID, it.State)
			}
		}
		testenv.Eq(t, "sent amount", sent.Totals.Amount, total)
		var storedRefunds int64
		for _, id := range ids {
			storedRefunds += h.Stored(id).Refund
		}
		testenv.Eq(t, "refunded", refunded, storedRefunds)
	})

	t.Run("rebuild swaps in while queries go on", func(t *testing.T) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var queries int
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := h.Request("hongbao.get."+ids[i%len(ids)], `{}`)
				if r.Status != "" {
					t.Errorf("get during rebuild: %s %s", r.Status, r.Code)
				}
				r = h.Request("hongbao.user.received", map[string]any{"user": userPool[i%len(userPool)], "year": year})
				if r.Status != "" {
					t.Errorf("received during rebuild: %s %s", r.Status, r.Code)
				}
				queries++
			}
		}()
		var phases []string
		for _, name := range projections.Names {
			if err := h.Views.Rebuild(context.Background(), name, func(p projections.Progress) {
				if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
					phases = append(phases, p.Phase)
				}
			}); err != nil {
				t.Fatalf("rebuild %s: %v", name, err)
			}
		}
		close(stop)
		wg.Wait()
		if queries == 0 {
			t.Fatal("no query ran during the rebuild")
		}
		if phases[len(phases)-1] != "done" {
			t.Fatalf("progress phases %v", phases)
		}
		lags, _ := h.Views.Status(context.Background())
		for _, l := range lags {
			testenv.Eq(t, l.Name+" generation", l.Generation, 2)
		}
		verifyAll(t, h.Views)
		// New events still flow into the swapped-in generations.
		id := h.WrapAndPay("equal", 200, 2)
		o := h.Open(id, "zed")
		r := testenv.Decode[api.ReceivedReply](t, h.Request("hongbao.user.received", map[string]any{"user": "zed", "year": year, "after_seq": o.Seq}))
		testenv.Eq(t, "received after rebuild", len(r.Items), 1)
	})
}

func receivedAll(t *testing.T, h *testenv.Env, user string, year, limit int) ([]api.ReceivedItem, api.ListTotals) {
	t.Helper()
	var items []api.ReceivedItem
	var totals api.ListTotals
	for cursor := ""; ; {
		p := testenv.Decode[api.ReceivedReply](t, h.Request("hongbao.user.received", map[string]any{"user": user, "year": year, "limit": limit, "cursor": cursor}))
		items = append(items, p.Items...)
		totals = p.Totals
		if p.Next == "" {
			return items, totals
		}
		cursor = p.Next
	}
}

// TestPaginationDuringWrites: while a user keeps receiving, paging through
// the list returns every item that existed at the start exactly once, in
// newest-first order.
func TestPaginationDuringWrites(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	year := users.Year(time.Now())
	var before []string
	var last uint64
	for i := 0; i < 12; i++ {
		id := h.WrapAndPay("equal", 100, 1)
		last = h.Open(id, "bob").Seq
		before = append([]string{id}, before...) // newest first
	}
	// Make sure the first page sees all of them.
	testenv.Decode[api.ReceivedReply](t, h.Request("hongbao.user.received", map[string]any{"user": "bob", "year": year, "after_seq": last}))

	var seen []string
	var newer int
	known := map[string]bool{}
	for _, id := range before {
		known[id] = true
	}
	for cursor := ""; ; {
		p := testenv.Decode[api.ReceivedReply](t, h.Request("hongbao.user.received", map[string]any{"user": "bob", "year": year, "limit": 5, "cursor": cursor}))
		for _, it := range p.Items {
			if known[it.EnvelopeID] {
				seen = append(seen, it.EnvelopeID)
			} else {
				newer++
			}
		}
		// A write between pages.
		id := h.WrapAndPay("equal", 100, 1)
		h.Open(id, "bob")
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	testenv.Eq(t, "items seen", fmt.Sprint(seen), fmt.Sprint(before))
	if newer > 5 {
		t.Fatalf("%d items written during paging showed up on later pages", newer)
	}
}

// TestAfterSeq: a caller who passes the seq of their own open sees it.
func TestAfterSeq(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	year := users.Year(time.Now())
	for i := 0; i < 20; i++ {
		id := h.WrapAndPay("lucky", 500, 5)
		o := h.Open(id, "ann")
		g := h.Get(id, o.Seq)
		if len(g.Opens) != 1 || g.Opens[0].User != "ann" || g.Opens[0].Amount != o.Amount {
			t.Fatalf("get after own open: %+v", g)
		}
		r := testenv.Decode[api.ReceivedReply](t, h.Request("hongbao.user.received", map[string]any{"user": "ann", "year": year, "limit": 1, "after_seq": o.Seq}))
		if len(r.Items) != 1 || r.Items[0].EnvelopeID != id || r.Totals.Count != i+1 {
			t.Fatalf("received after own open #%d: %+v", i+1, r)
		}
	}
	// A sequence far ahead cannot be reached: unavailable, not stale data.
	h.ExpectError(h.Request("hongbao.user.received", map[string]any{"user": "ann", "after_seq": 1 << 40}), "503", api.CodeUnavailable)
}
