package service_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/service"
)

func TestLifecycle(t *testing.T) {
	h := newHarness(t, service.Config{})
	id := h.wrap("lucky", 10000, 5)

	// Not paid yet: grab says not_live, open is a 409.
	eq(t, "grab before pay", decode[api.GrabReply](t, h.request("hongbao.grab."+id, `{"user":"bob"}`)).Status, api.StatusNotLive)
	h.expectError(h.request("hongbao.open."+id, `{"user":"bob"}`), "409", api.CodeNotLive)

	pay := map[string]any{"payment_id": "p-1", "amount": 10000}
	first := decode[api.PayReply](t, h.request("hongbao.pay."+id, pay))
	eq(t, "state", first.State, api.StateLive)
	again := decode[api.PayReply](t, h.request("hongbao.pay."+id, pay))
	eq(t, "repeated pay", again, first)
	h.expectError(h.request("hongbao.pay."+id, map[string]any{"payment_id": "p-2", "amount": 10000}), "409", api.CodeConflict)

	eq(t, "grab", decode[api.GrabReply](t, h.request("hongbao.grab."+id, `{"user":"bob"}`)).Status, api.StatusCanOpen)

	var sum int64
	var lastSeq uint64
	for i := 1; i <= 5; i++ {
		user := fmt.Sprintf("user%d", i)
		o := h.open(id, user)
		eq(t, "status", o.Status, api.StatusOpened)
		eq(t, "index", o.Index, i)
		eq(t, "remaining", *o.RemainingCount, 5-i)
		if o.Seq <= lastSeq {
			t.Fatalf("seq %d after %d", o.Seq, lastSeq)
		}
		lastSeq = o.Seq
		sum += o.Amount
		// Opening twice never pays twice.
		twice := h.open(id, user)
		eq(t, "second open", twice.Status, api.StatusAlreadyOpened)
		eq(t, "second open amount", twice.Amount, o.Amount)
		eq(t, "second open index", twice.Index, i)
		g := decode[api.GrabReply](t, h.request("hongbao.grab."+id, map[string]string{"user": user}))
		eq(t, "grab after open", g, api.GrabReply{Status: api.StatusAlreadyOpened, Amount: o.Amount})
	}
	eq(t, "sum of shares", sum, int64(10000))
	eq(t, "open after the last share", h.open(id, "late").Status, api.StatusExhausted)
	eq(t, "grab after the last share", decode[api.GrabReply](t, h.request("hongbao.grab."+id, `{"user":"late"}`)).Status, api.StatusExhausted)

	g := h.get(id)
	eq(t, "get state", g.Envelope.State, api.StateFinished)
	eq(t, "get opened_count", g.Envelope.OpenedCount, 5)
	eq(t, "get opened_total", g.Envelope.OpenedTotal, int64(10000))
	eq(t, "get opens", len(g.Opens), 5)
	best := 0
	for i, o := range g.Opens {
		eq(t, "open index", o.Index, i+1)
		if o.BestLuck {
			best++
			for _, other := range g.Opens {
				if other.Amount > o.Amount {
					t.Fatalf("best luck %d is not the largest (%d)", o.Amount, other.Amount)
				}
			}
		}
	}
	eq(t, "best luck marks", best, 1)
	checkInvariants(t, h.stored(id))

	// Pagination: two per page, every open once, in order.
	var seen []int
	for cursor := ""; ; {
		p := decode[api.GetReply](t, h.request("hongbao.get."+id, map[string]any{"limit": 2, "cursor": cursor}))
		for _, o := range p.Opens {
			seen = append(seen, o.Index)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	eq(t, "paged opens", fmt.Sprint(seen), "[1 2 3 4 5]")
}

func TestEqualEnvelope(t *testing.T) {
	h := newHarness(t, service.Config{})
	id := h.wrapAndPay("equal", 300, 3)
	for i := 0; i < 3; i++ {
		eq(t, "equal share", h.open(id, fmt.Sprintf("u%d", i)).Amount, int64(100))
	}
}

func TestBadInput(t *testing.T) {
	h := newHarness(t, service.Config{})
	id := h.wrapAndPay("lucky", 1000, 2)
	big := `{"user":"` + strings.Repeat("a", 70<<10) + `"}`
	cases := []struct {
		subject, body, status, code string
	}{
		{"hongbao.wrap", `{`, "400", api.CodeBadRequest},
		{"hongbao.wrap", `{"request_id":"r","sender":"a","kind":"lucky","total":100,"count":1,"x":1}`, "400", api.CodeBadRequest},
		{"hongbao.wrap", `{"request_id":"r","sender":"a","kind":"lucky","total":"100","count":1}`, "400", api.CodeBadRequest},
		{"hongbao.wrap", `{"request_id":"r","sender":"a","kind":"lucky","total":0,"count":1}`, "400", api.CodeInvalidAmount},
		{"hongbao.wrap", `{"request_id":"r","sender":"a","kind":"lucky","total":-5,"count":1}`, "400", api.CodeInvalidAmount},
		{"hongbao.wrap", `{"request_id":"r","sender":"a","kind":"lucky","total":99999999999999999999,"count":1}`, "400", api.CodeInvalidAmount},
		{"hongbao.wrap", `{"request_id":"r","sender":"a","kind":"lucky","total":100,"count":0}`, "400", api.CodeInvalidCount},
		{"hongbao.wrap", `{"request_id":"r","sender":"a","kind":"lucky","total":1000,"count":101}`, "400", api.CodeInvalidCount},
		{"hongbao.wrap", `{"request_id":"r","sender":"a","kind":"lucky","total":20001,"count":1}`, "400", api.CodeInvalidAmount},
		{"hongbao.wrap", `{"request_id":"r","sender":"a","kind":"equal","total":100,"count":3}`, "400", api.CodeInvalidAmount},
		{"hongbao.wrap", `{"request_id":"r","sender":"a.b","kind":"lucky","total":100,"count":1}`, "400", api.CodeBadRequest},
		{"hongbao.open." + strings.ToLower(id), `{"user":"bob"}`, "400", api.CodeInvalidID},
		{"hongbao.open." + id + ".x", `{"user":"bob"}`, "400", api.CodeInvalidID},
		{"hongbao.open.*", `{"user":"bob"}`, "400", api.CodeInvalidID},
		{"hongbao.open." + id, `{"user":"bob.*"}`, "400", api.CodeBadRequest},
		{"hongbao.open." + id, big, "400", api.CodeBadRequest},
		{"hongbao.open." + id, `{"user":"bob"} {}`, "400", api.CodeBadRequest},
		{"hongbao.pay." + id, `{"payment_id":"p","amount":1.5}`, "400", api.CodeInvalidAmount},
		{"hongbao.get." + id, `{"limit":-1}`, "400", api.CodeBadRequest},
		{"hongbao.get." + id, `{"cursor":"zz"}`, "400", api.CodeBadRequest},
	}
	for _, c := range cases {
		h.expectError(h.request(c.subject, c.body), c.status, c.code)
	}
	h.expectError(h.request("hongbao.open.01ARZ3NDEKTSV4RRFFQ69G5FAV", `{"user":"bob"}`), "404", api.CodeNotFound)
	// Nothing changed.
	e := h.stored(id)
	eq(t, "opens after bad input", len(e.Opens), 0)
	eq(t, "events after bad input", e.Version, 2)
}

func TestWrapIdempotent(t *testing.T) {
	h := newHarness(t, service.Config{})
	body := map[string]any{"request_id": "same", "sender": "alice", "kind": "lucky", "total": 500, "count": 5, "greeting": "恭喜发财"}
	a := decode[api.WrapReply](t, h.request("hongbao.wrap", body))
	b := decode[api.WrapReply](t, h.request("hongbao.wrap", body))
	eq(t, "same envelope", b.EnvelopeID, a.EnvelopeID)
	body["total"] = 600
	h.expectError(h.request("hongbao.wrap", body), "409", api.CodeConflict)
	body["sender"] = "bob" // request ids are per sender
	c := decode[api.WrapReply](t, h.request("hongbao.wrap", body))
	if c.EnvelopeID == a.EnvelopeID {
		t.Fatal("another sender's request id returned alice's envelope")
	}
	eq(t, "events of the twice-wrapped envelope", h.stored(a.EnvelopeID).Version, 1)
}
