package ops

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/dispatch"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/service"
)

// Status is the reply of <prefix>.admin.<instance>.status.
type Status struct {
	Instance    string            `json:"instance"`
	InstanceKey string            `json:"instance_key,omitempty"` // signs its appends (internal/seal)
	Version     string            `json:"version"`
	Projections []projections.Lag `json:"projections"`
	Jobs        []Job             `json:"jobs"`
	Errors      map[string]int64  `json:"errors_by_code"`
	Cached      int               `json:"cached_envelopes"`
	Timers      int               `json:"pending_timers"`
	Dispatch    *dispatch.Stats   `json:"dispatch,omitempty"`
	Reconcile   *ReconcileSummary `json:"reconcile,omitempty"`
}

// ReconcileSummary is the last periodic reconciliation, in the status.
type ReconcileSummary struct {
	At            time.Time      `json:"at"`
	OK            bool           `json:"ok"`
	Discrepancies int            `json:"discrepancies"`
	ByKind        map[string]int `json:"by_kind,omitempty"`
	Envelopes     int            `json:"envelopes"`
	Transfers     int            `json:"transfers"`
	Balanced      bool           `json:"balanced"`
	Error         string         `json:"error,omitempty"`
}

func (o *Ops) reconcileSummary() *ReconcileSummary {
	if o.cfg.Reconciler == nil {
		return nil
	}
	rep, at, err := o.cfg.Reconciler.Last()
	if at.IsZero() {
		return nil // not run yet
	}
	sum := &ReconcileSummary{At: at, OK: err == nil && rep.OK(), Discrepancies: len(rep.Discrepancies), ByKind: rep.CountByKind(),
		Envelopes: rep.Envelopes, Transfers: rep.Transfers, Balanced: rep.Balanced}
	if err != nil {
		sum.Error = err.Error()
	}
	return sum
}

func (o *Ops) dispatchStats() *dispatch.Stats {
	if o.cfg.Dispatch == nil {
		return nil
	}
	ds := o.cfg.Dispatch.Stats()
	return &ds
}

// handleStatus answers inside the handler: a status is rare, and micro
// counts what it answered.
func (o *Ops) handleStatus(req micro.Request) {
	if !o.enter() {
		fail(req, errStopping())
		return
	}
	defer o.running.Done()
	st := o.svc.Stats()
	reply := Status{Instance: o.id, InstanceKey: o.cfg.InstanceKey, Version: service.Version, Jobs: o.snapshot(),
		Errors: st.ErrorsByCode, Cached: st.CachedEnvelopes, Timers: st.PendingTimers,
		Dispatch: o.dispatchStats(), Reconcile: o.reconcileSummary()}
	if o.cfg.Views != nil {
		ctx, cancel := context.WithTimeout(o.ctx, o.cfg.RequestTimeout)
		defer cancel()
		lags, err := o.cfg.Views.Status(ctx)
		if err != nil {
			o.log.Warn("admin status: read models", "err", err)
			fail(req, api.Errorf(api.CodeUnavailable, "the event store did not confirm; retrying is safe"))
			return
		}
		reply.Projections = lags
	}
	o.respond(req, reply)
}

// EndpointStats is the data of the admin endpoints in $SRV.STATS: the
// instance-wide numbers, once, on admin-status (see the package doc).
func (o *Ops) EndpointStats(ep *micro.Endpoint) (any, bool) {
	switch ep.Name {
	case endpointPrefix + "status":
		return o.instanceStats(), true
	case endpointPrefix + "rebuild", endpointPrefix + "verify":
		return nil, true
	}
	return nil, false
}

func (o *Ops) instanceStats() map[string]any {
	st := o.svc.Stats()
	out := map[string]any{"cached_envelopes": st.CachedEnvelopes, "pending_timers": st.PendingTimers,
		"errors_by_code": st.ErrorsByCode, "open_batches": st.OpenBatches}
	if o.cfg.Views != nil {
		out["projections_applied_seq"] = o.cfg.Views.Applied()
	}
	if d := o.dispatchStats(); d != nil {
		out["dispatch"] = d
	}
	if r := o.reconcileSummary(); r != nil {
		out["reconcile"] = r
	}
	return out
}
