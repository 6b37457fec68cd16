package service_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/service"
)

// openAll sends one open per user concurrently (at most par in flight) and
// counts the outcomes; it fails the test on any error reply.
func openConcurrently(h *testenv.Env, id string, users []string, par int) (opened map[string]api.OpenReply, statuses map[string]int) {
	h.T.Helper()
	var mu sync.Mutex
	opened, statuses = map[string]api.OpenReply{}, map[string]int{}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			m, err := h.NC.Request("hongbao.open."+id, fmt.Appendf(nil, `{"user":%q}`, u), testenv.RequestTimeout)
			if err != nil {
				h.T.Errorf("open %s by %s: %v", id, u, err)
				return
			}
			r := testenv.ParseReply(h.T, m)
			if r.Status != "" {
				h.T.Errorf("open %s by %s: %s %s", id, u, r.Status, r.Code)
				return
			}
			o := testenv.Decode[api.OpenReply](h.T, r)
			mu.Lock()
			defer mu.Unlock()
			statuses[o.Status]++
			if o.Status == api.StatusOpened {
				if _, dup := opened[u]; dup {
					h.T.Errorf("%s opened %s twice", u, id)
				}
				opened[u] = o
			}
		}()
	}
	wg.Wait()
	return opened, statuses
}

// TestHotEnvelope: 500 concurrent openers on one envelope of count 100:
// exactly 100 opened, the rest exhausted, the shares sum to the total, no
// user twice, no errors.
func TestHotEnvelope(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	id := h.WrapAndPay("lucky", 100*150, 100)
	users := make([]string, 500)
	for i := range users {
		users[i] = fmt.Sprintf("u%03d", i)
	}
	opened, statuses := openConcurrently(h, id, users, len(users))
	testenv.Eq(t, "opened", statuses[api.StatusOpened], 100)
	testenv.Eq(t, "exhausted", statuses[api.StatusExhausted], 400)
	var sum int64
	indexes := map[int]bool{}
	for _, o := range opened {
		sum += o.Amount
		indexes[o.Index] = true
	}
	testenv.Eq(t, "sum of shares", sum, int64(100*150))
	testenv.Eq(t, "distinct indexes", len(indexes), 100)
	e := h.Stored(id)
	testenv.CheckInvariants(t, e)
	testenv.Eq(t, "stored opens", len(e.Opens), 100)
	for _, s := range e.Opens {
		if o := opened[s.User]; o.Amount != s.Amount || o.Seq != s.Seq {
			t.Fatalf("%s was told %d at seq %d, the stream says %d at seq %d", s.User, o.Amount, o.Seq, s.Amount, s.Seq)
		}
	}
}

// TestHotEnvelopeBatches: opens queued behind one another on a hot
// envelope are appended as atomic batches, and everything TestHotEnvelope
// checks still holds: each opener told the share and the sequence the
// stream has, the cached state equal to the stream's. With MaxOpenBatch 1,
// or on a stream created without allow_atomic, no batch is made and the
// opens are appended one by one.
func TestHotEnvelopeBatches(t *testing.T) {
	for _, tc := range []struct {
		name     string
		max      int
		noAtomic bool
	}{{"batches", 0, false}, {"max-1", 1, false}, {"stream-without-atomic", 0, true}} {
		t.Run(tc.name, func(t *testing.T) {
			h := testenv.Start(t, service.Config{MaxOpenBatch: tc.max})
			if tc.noAtomic {
				st := h.Svc.Store().Stream()
				info, err := st.Info(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				cfg := info.Config
				cfg.AllowAtomicPublish = false
				if _, err := h.Srv.JetStream(t).UpdateStream(t.Context(), cfg); err != nil {
					t.Fatal(err)
				}
			}
			batching := tc.max == 0 && !tc.noAtomic
			users := make([]string, 300)
			for i := range users {
				users[i] = fmt.Sprintf("u%03d", i)
			}
			for round := range 3 {
				id := h.WrapAndPay("lucky", 100*150, 100)
				opened, statuses := openConcurrently(h, id, users, len(users))
				testenv.Eq(t, "opened", statuses[api.StatusOpened], 100)
				testenv.Eq(t, "exhausted", statuses[api.StatusExhausted], 200)
				e := h.Stored(id)
				testenv.CheckInvariants(t, e)
				for _, s := range e.Opens {
					if o := opened[s.User]; o.Amount != s.Amount || o.Seq != s.Seq || o.Index == 0 {
						t.Fatalf("round %d: %s was told %d at seq %d, the stream says %d at seq %d", round, s.User, o.Amount, o.Seq, s.Amount, s.Seq)
					}
				}
				// The cached state is the stream's: an open after the end
				// answers from it.
				testenv.Eq(t, "late open", h.Open(id, "late").Status, api.StatusExhausted)
				testenv.Eq(t, "repeat", h.Open(id, e.Opens[99].User).Index, 100)
			}
			batches, opens := h.Svc.OpenBatches()
			t.Logf("%d batches held %d of 300 opens", batches, opens)
			if !batching && batches != 0 {
				t.Fatalf("%d batches, want none", batches)
			}
			if batching && (batches == 0 || opens < 2*batches) {
				t.Fatalf("%d batches of %d opens: the hot path did not batch", batches, opens)
			}
		})
	}
}

// TestManyEnvelopes: 1,000 envelopes opened concurrently by 20 users each,
// with the appends of different envelopes committed in groups; every
// envelope keeps I1–I3.
func TestManyEnvelopes(t *testing.T) {
	h := testenv.Start(t, service.Config{Store: eventstore.Config{GroupCommit: true}})
	const envelopes, users = 1000, 20
	ids := make([]string, envelopes)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			// count 10 < 20 users: half of the opens find it exhausted.
			ids[i] = h.WrapAndPay([]string{"lucky", "equal"}[i%2], 1000, 10)
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	type job struct{ id, user string }
	jobs := make(chan job)
	var opened, exhausted atomic.Int64
	for w := 0; w < 128; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				m, err := h.NC.Request("hongbao.open."+j.id, fmt.Appendf(nil, `{"user":%q}`, j.user), testenv.RequestTimeout)
				if err != nil {
					t.Errorf("open: %v", err)
					continue
				}
				switch o := testenv.Decode[api.OpenReply](t, testenv.ParseReply(t, m)); o.Status {
				case api.StatusOpened:
					opened.Add(1)
				case api.StatusExhausted:
					exhausted.Add(1)
				default:
					t.Errorf("open %s by %s: %s", j.id, j.user, o.Status)
				}
			}
		}()
	}
	// Users sweep across envelopes so every envelope sees interleaved opens.
	for u := 0; u < users; u++ {
		for _, id := range ids {
			jobs <- job{id, fmt.Sprintf("user%02d", u)}
		}
	}
	close(jobs)
	wg.Wait()
	testenv.Eq(t, "opened", opened.Load(), int64(envelopes*10))
	testenv.Eq(t, "exhausted", exhausted.Load(), int64(envelopes*10))
	batches, grouped := h.Svc.Store().GroupCommits()
	t.Logf("%d appends committed in %d groups", grouped, batches)
	if batches == 0 || grouped < 2*batches {
		t.Fatalf("%d groups of %d appends: no group commit", batches, grouped)
	}
	for _, id := range ids {
		e := h.Stored(id)
		testenv.CheckInvariants(t, e)
		testenv.Eq(t, "opens of "+id, len(e.Opens), 10)
		testenv.Eq(t, "total of "+id, e.OpenedTotal, int64(1000))
	}
}

// TestTwoInstancesOneEnvelope: two service instances, each with its own
// cache and mailboxes, serve one envelope; requests go to either at random
// (micro's queue group). The expected-sequence check keeps them honest: no
// double spend, every share once, the sum exact.
func TestTwoInstancesOneEnvelope(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	second := h.StartService(h.Srv.Conn(t))
	_ = second
	id := h.WrapAndPay("lucky", 50*300, 50)
	users := make([]string, 200)
	for i := range users {
		users[i] = fmt.Sprintf("u%03d", i)
	}
	// Each user twice, so both instances see repeats of the same user.
	opened, statuses := openConcurrently(h, id, append(users, users...), 64)
	testenv.Eq(t, "opened", statuses[api.StatusOpened], 50)
	testenv.Eq(t, "opened or repeated", statuses[api.StatusOpened]+statuses[api.StatusAlreadyOpened]+statuses[api.StatusExhausted], 400)
	var sum int64
	for _, o := range opened {
		sum += o.Amount
	}
	testenv.Eq(t, "sum of shares", sum, int64(50*300))
	e := h.Stored(id)
	testenv.CheckInvariants(t, e)
	testenv.Eq(t, "stored opens", len(e.Opens), 50)
}

// TestTinyCache: with room for far fewer envelopes than are in use, states
// are evicted and reloaded from the stream, and every answer stays right.
func TestTinyCache(t *testing.T) {
	h := testenv.Start(t, service.Config{CacheSize: 64})
	ids := make([]string, 200)
	for i := range ids {
		ids[i] = h.WrapAndPay("equal", 300, 3)
	}
	for round := 0; round < 2; round++ {
		for _, id := range ids {
			o := h.Open(id, fmt.Sprintf("u%d", round))
			testenv.Eq(t, "open", o.Status, api.StatusOpened)
			testenv.Eq(t, "index", o.Index, round+1)
		}
	}
	for _, id := range ids {
		testenv.Eq(t, "repeat after eviction", h.Open(id, "u0").Status, api.StatusAlreadyOpened)
		testenv.CheckInvariants(t, h.Stored(id))
	}
}
