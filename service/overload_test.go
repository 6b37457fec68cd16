package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/service"
)

// stormReply is what one request of the storm got back.
type stormReply struct {
	code   string // error code, or the open's status
	amount int64
	seq    uint64
}

// TestOverloadStorm fires 50,000 opens at one instance at once, from four
// connections with asynchronous requests (one reply subscription each), at
// 20 hot envelopes of 100 shares. The instance has a global in-flight limit
// of 500 and per-envelope admission on. It shows:
//   - a reply for every request: opened, exhausted, busy (surplus or a full
//     mailbox) or overloaded, and nothing else;
//   - bounded heap: the live heap after the storm is within stormHeapBound
//     of the one before, and the peak during it as well;
//   - no acknowledged open lost: every opened reply's Opened event is in
//     the stream exactly once, with its amount and seq, and the stream
//     holds no other opens but those answered 503 unavailable (the store
//     did not confirm in time: outcome unknown, which happens under -race).
func TestOverloadStorm(t *testing.T) {
	const (
		envelopes = 20
		shares    = 100
		requests  = 50_000
		conns     = 4
		// stormHeapBound: the peak live heap over the one before the
		// storm, for the whole process (the embedded server's buffers
		// and the clients' pending replies count too). Measured: about
		// +28 MB at the peak and +4 MB after, on two cores; the
		// in-flight opens themselves are at most MaxInFlight (500) of a
		// few hundred bytes each, and surplus or shed ones hold nothing.
		stormHeapBound = 128 << 20
	)
	h := testenv.Start(t, service.Config{MaxInFlight: 500, OpenAdmission: true}, testenv.WithoutProjections())
	ids := make([]string, envelopes)
	for i := range ids {
		ids[i] = h.WrapAndPay("lucky", shares*100, shares)
	}

	replies := make([]stormReply, requests)
	var got atomic.Int64
	all := make(chan struct{})
	var mu sync.Mutex
	ncs := make([]*nats.Conn, conns)
	for c := range ncs {
		ncs[c] = h.Srv.Conn(t)
		sub, err := ncs[c].Subscribe(fmt.Sprintf("_INBOX.storm.%d.*", c), func(m *nats.Msg) {
			i, err := strconv.Atoi(m.Subject[strings.LastIndexByte(m.Subject, '.')+1:])
			if err != nil {
				t.Errorf("reply on %s", m.Subject)
				return
			}
			var r stormReply
			if code := m.Header.Get(micro.ErrorCodeHeader); code != "" {
				var e struct{ Error struct{ Code string } }
				_ = json.Unmarshal(m.Data, &e)
				r.code = e.Error.Code
			} else {
				var o api.OpenReply
				if err := json.Unmarshal(m.Data, &o); err != nil {
					t.Errorf("reply %s: %v", m.Data, err)
				}
				r = stormReply{code: o.Status, amount: o.Amount, seq: o.Seq}
			}
			mu.Lock()
			dup := replies[i].code != ""
			replies[i] = r
			mu.Unlock()
			if dup {
				t.Errorf("request %d answered twice", i)
				return
			}
			if got.Add(1) == requests {
				close(all)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			t.Fatal(err)
		}
		if err := ncs[c].Flush(); err != nil {
			t.Fatal(err)
		}
	}

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stopSampling:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
			}
		}
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for c := range ncs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; i < requests; i += conns {
				m := &nats.Msg{Subject: "hongbao.open." + ids[i%envelopes], Reply: fmt.Sprintf("_INBOX.storm.%d.%d", c, i),
					Data: fmt.Appendf(nil, `{"user":"s%d"}`, i)}
				if err := ncs[c].PublishMsg(m); err != nil {
					t.Errorf("publish %d: %v", i, err)
				}
			}
			if err := ncs[c].Flush(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	select {
	case <-all:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%d of %d requests answered", got.Load(), requests)
	}
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled
	runtime.GC()
	runtime.ReadMemStats(&after)

	counts := map[string]int{}
	for _, r := range replies {
		counts[r.code]++
	}
	t.Logf("%d requests in %v: %v; heap %d MB before, peak %d MB, %d MB after; stats %+v", requests, elapsed.Round(time.Millisecond), counts,
		before.HeapAlloc>>20, peak.Load()>>20, after.HeapAlloc>>20, h.Svc.Stats())
	for code := range counts {
		switch code {
		case api.StatusOpened, api.StatusExhausted, api.CodeBusy, api.CodeOverloaded:
		case api.CodeUnavailable:
			// The store did not confirm within RequestTimeout (seen under
			// -race on two cores): the outcome is unknown to the client,
			// as the contract says; such an open may have landed.
		default:
			t.Errorf("%d replies %q", counts[code], code)
		}
	}
	if counts[api.CodeOverloaded] == 0 {
		t.Error("nothing was shed: the storm did not reach the in-flight limit")
	}
	if grow := int64(peak.Load()) - int64(before.HeapAlloc); grow > stormHeapBound {
		t.Errorf("peak heap grew by %d MB, bound %d MB", grow>>20, stormHeapBound>>20)
	}
	if grow := int64(after.HeapAlloc) - int64(before.HeapAlloc); grow > stormHeapBound {
		t.Errorf("heap after the storm grew by %d MB, bound %d MB", grow>>20, stormHeapBound>>20)
	}

	// No acknowledged open lost, none stored twice, none stored unacknowledged.
	acked := map[string]stormReply{} // user -> reply
	unknown := map[string]bool{}     // users answered unavailable
	for i, r := range replies {
		switch r.code {
		case api.StatusOpened:
			acked[fmt.Sprintf("s%d", i)] = r
		case api.CodeUnavailable:
			unknown[fmt.Sprintf("s%d", i)] = true
		}
	}
	stored, storedAcked := 0, 0
	for _, id := range ids {
		e := h.Stored(id)
		testenv.CheckInvariants(t, e)
		seen := map[string]bool{}
		for _, s := range e.Opens {
			if seen[s.User] {
				t.Errorf("%s: %s stored twice", id, s.User)
			}
			seen[s.User] = true
			a, ok := acked[s.User]
			switch {
			case !ok && !unknown[s.User]:
				t.Errorf("%s: %s's open stored but answered %q", id, s.User, replies[userIndex(s.User)].code)
			case !ok: // answered unavailable: it may land
			case a.amount != s.Amount || a.seq != s.Seq:
				t.Errorf("%s: %s acknowledged %d at seq %d, stored %d at seq %d", id, s.User, a.amount, a.seq, s.Amount, s.Seq)
			default:
				storedAcked++
			}
		}
		stored += len(e.Opens)
	}
	testenv.Eq(t, "acknowledged opens stored", storedAcked, len(acked))
	if stored > len(acked)+len(unknown) {
		t.Errorf("%d opens stored, %d acknowledged and %d unknown", stored, len(acked), len(unknown))
	}

	// Settled: nothing in flight, and the instance serves as before.
	ctx, cancel := context.WithTimeout(context.Background(), testenv.RequestTimeout)
	defer cancel()
	for h.Svc.Stats().InFlight != 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("%d requests still in flight", h.Svc.Stats().InFlight)
		case <-time.After(5 * time.Millisecond):
		}
	}
	testenv.Eq(t, "open after the storm", h.Open(h.WrapAndPay("equal", 100, 1), "after").Status, api.StatusOpened)
}

// TestOverloadDegraded (柔性可用): with the read models stalled (opened
// but never fed) and no dispatcher crediting the ledger, opens still
// succeed, and queries that ask for read-your-writes (after_seq) answer
// 503 unavailable rather than stale data.
func TestOverloadDegraded(t *testing.T) {
	h := testenv.Start(t, service.Config{RequestTimeout: time.Second}, testenv.WithoutProjections())
	stalled, err := projections.Open(h.Srv.JetStream(t), projections.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stalled.Close() })
	testenv.Stop(t, h.Svc)
	h.Cfg.Projections = stalled
	h.Svc = h.StartService(h.Srv.Conn(t))

	id := h.WrapAndPay("equal", 300, 3)
	o := h.Open(id, "bob")
	testenv.Eq(t, "open while the views stall", o.Status, api.StatusOpened)
	testenv.Eq(t, "second open", h.Open(id, "carol").Status, api.StatusOpened)
	h.ExpectError(h.Request("hongbao.get."+id, map[string]any{"after_seq": o.Seq}), "503", api.CodeUnavailable)
	h.ExpectError(h.Request("hongbao.user.received", map[string]any{"user": "bob", "year": time.Now().Year(), "after_seq": o.Seq}),
		"503", api.CodeUnavailable)
}

// userIndex is i of the storm's user "s<i>".
func userIndex(user string) int {
	i, _ := strconv.Atoi(strings.TrimPrefix(user, "s"))
	return i
}
