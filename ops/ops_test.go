package ops_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/ops"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/service"
)

// TestAdmin: the admin endpoints answer on the instance's subjects, micro
// counts their errors, and the instance-wide numbers are in the stats of
// admin-status only.
func TestAdmin(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	id := h.WrapAndPay("equal", 300, 3)
	h.Open(id, "bob")

	if want := "hongbao.admin." + h.Svc.ID() + ".status"; h.Ops.Subject("status") != want {
		t.Fatalf("status subject %q, want %q", h.Ops.Subject("status"), want)
	}
	st := testenv.Decode[ops.Status](t, h.Request(h.Ops.Subject("status"), `{}`))
	if st.Instance != h.Svc.ID() || st.Version != service.Version || len(st.Projections) != len(projections.Names) ||
		st.Dispatch == nil || st.Cached < 1 {
		t.Fatalf("status %+v", st)
	}

	// A bad request is an error in micro's own counters.
	if r := h.Request(h.Ops.Subject("rebuild"), `{"projection":"nonsense"}`); r.Code != "bad_request" {
		t.Fatalf("rebuild nonsense: %+v", r)
	}
	if r := h.Request(h.Ops.Subject("verify"), `{"unknown":1}`); r.Code != "bad_request" {
		t.Fatalf("verify with an unknown field: %+v", r)
	}
	eps := h.MicroStats(h.Svc)
	for _, name := range []string{"admin-rebuild", "admin-verify"} {
		if ep := eps[name]; ep == nil || ep.NumRequests != 1 || ep.NumErrors != 1 || ep.LastError == "" {
			t.Fatalf("%s stats %+v", name, ep)
		}
	}
	if ep := eps["admin-status"]; ep == nil || ep.NumRequests != 1 || ep.NumErrors != 0 {
		t.Fatalf("admin-status stats %+v", ep)
	}

	// The instance-wide numbers: once, on admin-status.
	var data struct {
		Cached  *int                            `json:"cached_envelopes"`
		Applied map[string]uint64               `json:"projections_applied_seq"`
		Batches *struct{ Batches, Opens int64 } `json:"open_batches"`
	}
	if err := json.Unmarshal(eps["admin-status"].Data, &data); err != nil || data.Cached == nil || data.Applied == nil || data.Batches == nil {
		t.Fatalf("admin-status data %s: %v", eps["admin-status"].Data, err)
	}
	for name, ep := range eps {
		var m map[string]any
		if name != "admin-status" && json.Unmarshal(ep.Data, &m) == nil && m["cached_envelopes"] != nil {
			t.Fatalf("%s repeats the instance-wide stats: %s", name, ep.Data)
		}
	}

	// A job started is listed until it is done.
	started := testenv.Decode[ops.JobsReply](t, h.Request(h.Ops.Subject("verify"), `{"projection":"users"}`))
	if len(started.Jobs) != 1 || started.Jobs[0].Kind != "verify" || started.Jobs[0].State != "running" {
		t.Fatalf("verify started %+v", started)
	}
	natstest.Eventually(t, 10*time.Second, func() error {
		st := testenv.Decode[ops.Status](t, h.Request(h.Ops.Subject("status"), `{}`))
		for _, j := range st.Jobs {
			if j.ID == started.Jobs[0].ID && j.State == "done" && j.Result != nil {
				return nil
			}
		}
		return errors.New("verify not done yet")
	})
}
