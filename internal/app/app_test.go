package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hongbao/hongbao/internal/app"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/ops"
	"github.com/hongbao/hongbao/risk"
)

// TestInstance runs a whole instance as serve does, sends traffic, and
// reads the periodic reconciler's verdict and the dispatcher's progress
// from the admin status.
func TestInstance(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	a, err := app.Start(ctx, srv.Conn(t), app.Config{DataDir: t.TempDir(), ReconcileEvery: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := a.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	nc := srv.Conn(t)
	req := func(subject, body string) map[string]any {
		t.Helper()
		m, err := nc.Request(subject, []byte(body), 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
		var v map[string]any
		if err := json.Unmarshal(m.Data, &v); err != nil || m.Header.Get("Nats-Service-Error-Code") != "" {
			t.Fatalf("%s: %s (%v)", subject, m.Data, err)
		}
		return v
	}
	for i := 0; i < 5; i++ {
		id := req("hongbao.wrap", fmt.Sprintf(`{"request_id":"r%d","sender":"alice","kind":"equal","total":300,"count":3}`, i))["envelope_id"].(string)
		req("hongbao.pay."+id, fmt.Sprintf(`{"payment_id":"p%d","amount":300}`, i))
		for _, u := range []string{"bob", "cat", "dan"} {
			req("hongbao.open."+id, fmt.Sprintf(`{"user":%q}`, u))
		}
	}
	natstest.Eventually(t, 20*time.Second, func() error {
		m, err := nc.Request(a.Ops.Subject("status"), []byte(`{}`), 5*time.Second)
		if err != nil {
			return err
		}
		var st ops.Status
		if err := json.Unmarshal(m.Data, &st); err != nil {
			return err
		}
		switch {
		case st.Reconcile == nil:
			return errors.New("no reconciliation yet")
		case !st.Reconcile.OK || !st.Reconcile.Balanced:
			t.Fatalf("reconcile: %+v", st.Reconcile)
		case st.Reconcile.Envelopes < 5 || st.Reconcile.Transfers < 20:
			return fmt.Errorf("reconciled %d envelopes, %d transfers", st.Reconcile.Envelopes, st.Reconcile.Transfers)
		case st.Dispatch == nil || st.Dispatch.Delivered < 20:
			return fmt.Errorf("dispatch %+v", st.Dispatch)
		}
		return nil
	})
	natstest.Eventually(t, 10*time.Second, func() error {
		if w := req("hongbao.wallet.bob", `{}`); w["balance"].(float64) != 500 {
			return fmt.Errorf("bob's wallet: %v", w)
		}
		return nil
	})
}

// TestInstanceRisk: two instances with risk controls; an operator's block
// answered by either reaches both, and the user's wrap is then forbidden
// whichever instance serves it.
func TestInstanceRisk(t *testing.T) {
	srv := natstest.Start(t)
	ctx := context.Background()
	var apps []*app.App
	for range 2 {
		a, err := app.Start(ctx, srv.Conn(t), app.Config{Risk: &risk.Config{}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := a.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
		apps = append(apps, a)
	}
	nc := srv.Conn(t)
	if _, err := risk.Block(ctx, nc, "hongbao", "mallory", "test"); err != nil {
		t.Fatal(err)
	}
	natstest.Eventually(t, 10*time.Second, func() error {
		for i, a := range apps {
			if !a.Risk.Blocked("mallory") {
				return fmt.Errorf("instance %d has not seen the block", i)
			}
		}
		return nil
	})
	for i := range 4 {
		m, err := nc.Request("hongbao.wrap", fmt.Appendf(nil, `{"request_id":"r%d","sender":"mallory","kind":"equal","total":300,"count":3}`, i), 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if code := m.Header.Get("Nats-Service-Error-Code"); code != "403" {
			t.Fatalf("wrap by a blocked sender: %q %s", code, m.Data)
		}
	}
	if list, err := risk.List(ctx, nc, "hongbao", ""); err != nil || len(list) != 1 {
		t.Fatalf("list: %v %v", list, err)
	}
}
