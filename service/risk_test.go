package service_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/risk"
	"github.com/hongbao/hongbao/service"
)

// retryAfter reads retry_after_ms of a rate_limited reply.
func retryAfter(t *testing.T, r testenv.Reply) int64 {
	t.Helper()
	var e struct {
		Error struct {
			Code         string `json:"code"`
			RetryAfterMs int64  `json:"retry_after_ms"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Data, &e); err != nil {
		t.Fatalf("%s: %v", r.Data, err)
	}
	return e.Error.RetryAfterMs
}

func wrapAs(h *testenv.Env, sender string, n int) testenv.Reply {
	return h.Request("hongbao.wrap", map[string]any{"request_id": fmt.Sprintf("r-%s-%d", sender, n), "sender": sender,
		"kind": "equal", "total": 100, "count": 1})
}

// TestRiskBlockForbids: an operator blocks a user through the admin
// endpoint (any instance answers); the user's opens and wraps answer 403
// forbidden, another instance's watch sees the block, list shows it, and
// unblocking lets the user in again.
func TestRiskBlockForbids(t *testing.T) {
	h := testenv.Start(t, service.Config{}, testenv.WithRisk(risk.Config{}), testenv.WithoutProjections())
	other := h.StartRisk(risk.Config{}) // a second instance's view of the bucket
	ctx, cancel := context.WithTimeout(context.Background(), testenv.RequestTimeout)
	defer cancel()
	id := h.WrapAndPay("lucky", 1000, 10)

	e, err := risk.Block(ctx, h.NC, "hongbao", "mallory", "chargebacks")
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eq(t, "blocked name", e.Name, "mallory")
	h.ExpectError(h.Request("hongbao.open."+id, `{"user":"mallory"}`), "403", api.CodeForbidden)
	h.ExpectError(wrapAs(h, "mallory", 1), "403", api.CodeForbidden)
	testenv.Eq(t, "bob still opens", h.Open(id, "bob").Status, api.StatusOpened)
	for !other.Blocked("mallory") {
		select {
		case <-ctx.Done():
			t.Fatal("the other instance never saw the block")
		case <-time.After(5 * time.Millisecond):
		}
	}

	list, err := risk.List(ctx, h.NC, "hongbao", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "mallory" || list[0].Reason != "chargebacks" || list[0].At == "" {
		t.Fatalf("list: %+v", list)
	}
	if list, _ := risk.List(ctx, h.NC, "hongbao", "bob"); len(list) != 0 {
		t.Fatalf("list bob: %+v", list)
	}
	// A name that could smuggle a subject token or a KV key is refused.
	for _, name := range []string{"", "a.b", "*", ">", "a b", "é"} {
		if _, err := risk.Block(ctx, h.NC, "hongbao", name, ""); err == nil {
			t.Errorf("block %q: accepted", name)
		}
	}

	if err := risk.Unblock(ctx, h.NC, "hongbao", "mallory"); err != nil {
		t.Fatal(err)
	}
	testenv.Eq(t, "mallory opens after unblock", h.Open(id, "mallory").Status, api.StatusOpened)
	if list, _ := risk.List(ctx, h.NC, "hongbao", ""); len(list) != 0 {
		t.Fatalf("list after unblock: %+v", list)
	}
	for other.Blocked("mallory") {
		select {
		case <-ctx.Done():
			t.Fatal("the other instance never saw the unblock")
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// TestRiskBlocklistSurvivesRestart: an instance that starts after a block
// loads it before it serves.
func TestRiskBlocklistSurvivesRestart(t *testing.T) {
	h := testenv.Start(t, service.Config{}, testenv.WithRisk(risk.Config{}), testenv.WithoutProjections())
	ctx, cancel := context.WithTimeout(context.Background(), testenv.RequestTimeout)
	defer cancel()
	if _, err := risk.Block(ctx, h.NC, "hongbao", "mallory", ""); err != nil {
		t.Fatal(err)
	}
	if g := h.StartRisk(risk.Config{}); !g.Blocked("mallory") || g.Blocked("bob") {
		t.Fatalf("a new instance's blocklist: %+v", g.List())
	}
}

// TestRiskRateLimitOpen drives a user past the per-user open limit: the
// opens beyond it answer 429 rate_limited with retry_after_ms, other users
// are not affected.
func TestRiskRateLimitOpen(t *testing.T) {
	h := testenv.Start(t, service.Config{}, testenv.WithoutProjections(),
		testenv.WithRisk(risk.Config{OpenLimit: risk.Limit{Burst: 3, Per: time.Hour}, WrapLimit: risk.NoLimit}))
	ids := make([]string, 5)
	for i := range ids {
		ids[i] = h.WrapAndPay("equal", 100, 10)
	}
	for i := 0; i < 3; i++ {
		testenv.Eq(t, "open within the limit", h.Open(ids[i], "bob").Status, api.StatusOpened)
	}
	r := h.Request("hongbao.open."+ids[3], `{"user":"bob"}`)
	h.ExpectError(r, "429", api.CodeRateLimited)
	// 3 per hour: the next is admitted 20 minutes after the first.
	if ms := retryAfter(t, r); ms < 19*60*1000 || ms > 20*60*1000 {
		t.Errorf("retry_after_ms %d, want about 20 minutes", ms)
	}
	testenv.Eq(t, "carol is not limited", h.Open(ids[3], "carol").Status, api.StatusOpened)
	// Refused opens wrote nothing.
	testenv.Eq(t, "opens stored", len(h.Stored(ids[3]).Opens), 1)
}

// TestRiskRateLimitWrap drives a sender past the per-sender wrap limit.
func TestRiskRateLimitWrap(t *testing.T) {
	h := testenv.Start(t, service.Config{}, testenv.WithoutProjections(),
		testenv.WithRisk(risk.Config{WrapLimit: risk.Limit{Burst: 2, Per: time.Hour}}))
	for i := 0; i < 2; i++ {
		testenv.Decode[api.WrapReply](t, wrapAs(h, "alice", i))
	}
	r := wrapAs(h, "alice", 2)
	h.ExpectError(r, "429", api.CodeRateLimited)
	if ms := retryAfter(t, r); ms <= 0 {
		t.Errorf("retry_after_ms %d", ms)
	}
	testenv.Decode[api.WrapReply](t, wrapAs(h, "dave", 0))
}

// TestRiskRateLimitShake drives a user past the shake limit (the shake
// endpoint calls the same Check).
func TestRiskRateLimitShake(t *testing.T) {
	h := testenv.Start(t, service.Config{}, testenv.WithoutProjections(),
		testenv.WithRisk(risk.Config{ShakeLimit: risk.Limit{Burst: 5, Per: time.Hour}}))
	for i := 0; i < 5; i++ {
		if e := h.Risk.Check(risk.VerbShake, "bob"); e != nil {
			t.Fatalf("shake %d: %v", i, e)
		}
	}
	e := h.Risk.Check(risk.VerbShake, "bob")
	if e == nil || e.Code != api.CodeRateLimited || e.Status != 429 || e.RetryAfterMs <= 0 {
		t.Fatalf("sixth shake: %+v", e)
	}
	if e := h.Risk.Check(risk.VerbOpen, "bob"); e != nil {
		t.Fatalf("opens have a limit of their own: %v", e)
	}
}
