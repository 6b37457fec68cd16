package service_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/service"
)

func TestLifecycle(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	id := h.Wrap("lucky", 10000, 5)

	// Not paid yet: grab says not_live, open is a 409.
	testenv.Eq(t, "grab before pay", testenv.Decode[api.GrabReply](t, h.Request("hongbao.grab."+id, `{"user":"bob"}`)).Status, api.StatusNotLive)
	h.ExpectError(h.Request("hongbao.open."+id, `{"user":"bob"}`), "409", api.CodeNotLive)

	pay := map[string]any{"payment_id": "p-1", "amount": 10000}
	first := testenv.Decode[api.PayReply](t, h.Request("hongbao.pay."+id, pay))
	testenv.Eq(t, "state", first.State, api.StateLive)
	again := testenv.Decode[api.PayReply](t, h.Request("hongbao.pay."+id, pay))
	testenv.Eq(t, "repeated pay", again, first)
	h.ExpectError(h.Request("hongbao.pay."+id, map[string]any{"payment_id": "p-2", "amount": 10000}), "409", api.CodeConflict)

	testenv.Eq(t, "grab", testenv.Decode[api.GrabReply](t, h.Request("hongbao.grab."+id, `{"user":"bob"}`)).Status, api.StatusCanOpen)

	var sum int64
	var lastSeq uint64
	for i := 1; i <= 5; i++ {
		user := fmt.Sprintf("user%d", i)
		o := h.Open(id, user)
		testenv.Eq(t, "status", o.Status, api.StatusOpened)
		testenv.Eq(t, "index", o.Index, i)
		testenv.Eq(t, "remaining", *o.RemainingCount, 5-i)
		if o.Seq <= lastSeq {
			t.Fatalf("seq %d after %d", o.Seq, lastSeq)
		}
		lastSeq = o.Seq
		sum += o.Amount
		// Opening twice never pays twice.
		twice := h.Open(id, user)
		testenv.Eq(t, "second open", twice.Status, api.StatusAlreadyOpened)
		testenv.Eq(t, "second open amount", twice.Amount, o.Amount)
		testenv.Eq(t, "second open index", twice.Index, i)
		g := testenv.Decode[api.GrabReply](t, h.Request("hongbao.grab."+id, map[string]string{"user": user}))
		testenv.Eq(t, "grab after open", g, api.GrabReply{Status: api.StatusAlreadyOpened, Amount: o.Amount})
	}
	testenv.Eq(t, "sum of shares", sum, int64(10000))
	testenv.Eq(t, "open after the last share", h.Open(id, "late").Status, api.StatusExhausted)
	testenv.Eq(t, "grab after the last share", testenv.Decode[api.GrabReply](t, h.Request("hongbao.grab."+id, `{"user":"late"}`)).Status, api.StatusExhausted)

	g := h.Get(id, lastSeq)
	testenv.Eq(t, "get state", g.Envelope.State, api.StateFinished)
	testenv.Eq(t, "get opened_count", g.Envelope.OpenedCount, 5)
	testenv.Eq(t, "get opened_total", g.Envelope.OpenedTotal, int64(10000))
	testenv.Eq(t, "get opens", len(g.Opens), 5)
	best := 0
	for i, o := range g.Opens {
		testenv.Eq(t, "open index", o.Index, i+1)
		if o.BestLuck {
			best++
			for _, other := range g.Opens {
				if other.Amount > o.Amount {
					t.Fatalf("best luck %d is not the largest (%d)", o.Amount, other.Amount)
				}
			}
		}
	}
	testenv.Eq(t, "best luck marks", best, 1)
	testenv.CheckInvariants(t, h.Stored(id))

	// Pagination: two per page, every open once, in order.
	var seen []int
	for cursor := ""; ; {
		p := testenv.Decode[api.GetReply](t, h.Request("hongbao.get."+id, map[string]any{"limit": 2, "cursor": cursor, "after_seq": lastSeq}))
		for _, o := range p.Opens {
			seen = append(seen, o.Index)
		}
		if p.Next == "" {
			break
		}
		cursor = p.Next
	}
	testenv.Eq(t, "paged opens", fmt.Sprint(seen), "[1 2 3 4 5]")
}

func TestEqualEnvelope(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	id := h.WrapAndPay("equal", 300, 3)
	for i := 0; i < 3; i++ {
		testenv.Eq(t, "equal share", h.Open(id, fmt.Sprintf("u%d", i)).Amount, int64(100))
	}
}

func TestBadInput(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	id := h.WrapAndPay("lucky", 1000, 2)
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
		h.ExpectError(h.Request(c.subject, c.body), c.status, c.code)
	}
	h.ExpectError(h.Request("hongbao.open.01ARZ3NDEKTSV4RRFFQ69G5FAV", `{"user":"bob"}`), "404", api.CodeNotFound)
	// Nothing changed.
	e := h.Stored(id)
	testenv.Eq(t, "opens after bad input", len(e.Opens), 0)
	testenv.Eq(t, "events after bad input", e.Version, 2)
}

func TestWrapIdempotent(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	body := map[string]any{"request_id": "same", "sender": "alice", "kind": "lucky", "total": 500, "count": 5, "greeting": "恭喜发财"}
	a := testenv.Decode[api.WrapReply](t, h.Request("hongbao.wrap", body))
	b := testenv.Decode[api.WrapReply](t, h.Request("hongbao.wrap", body))
	testenv.Eq(t, "same envelope", b.EnvelopeID, a.EnvelopeID)
	body["total"] = 600
	h.ExpectError(h.Request("hongbao.wrap", body), "409", api.CodeConflict)
	body["sender"] = "bob" // request ids are per sender
	c := testenv.Decode[api.WrapReply](t, h.Request("hongbao.wrap", body))
	if c.EnvelopeID == a.EnvelopeID {
		t.Fatal("another sender's request id returned alice's envelope")
	}
	testenv.Eq(t, "events of the twice-wrapped envelope", h.Stored(a.EnvelopeID).Version, 1)
}
