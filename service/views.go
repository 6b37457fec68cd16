package service

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/micro"
	"github.com/nats-io/nuid"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/dispatch"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/projections/users"
	"github.com/hongbao/hongbao/projections/wallets"
)

// errNoViews: the service runs without projections.
var errNoViews = errors.New("service: read models are not running on this instance")

// viewRequest runs f in its own goroutine (a query may wait for after_seq)
// and answers with its result.
func (s *Service) viewRequest(r replier, f func(ctx context.Context) (any, error)) {
	done := s.take()
	go func() {
		defer done()
		ctx, cancel := s.requestContext()
		defer cancel()
		v, err := f(ctx)
		if err != nil {
			r.fail(err)
			return
		}
		r.respond(v)
	}()
}

func (s *Service) handleList(sent bool) micro.HandlerFunc {
	return func(req micro.Request) {
		r := s.replier(req)
		body, err := api.DecodeList(req.Data())
		if err != nil {
			r.fail(err)
			return
		}
		if s.cfg.Projections == nil {
			r.fail(errNoViews)
			return
		}
		q := projections.ListQuery{User: body.User, Year: body.Year, Cursor: body.Cursor, Limit: body.Limit, AfterSeq: body.AfterSeq}
		s.viewRequest(r, func(ctx context.Context) (any, error) {
			if sent {
				p, err := s.cfg.Projections.Sent(ctx, q)
				if err != nil {
					return nil, err
				}
				return sentReply(p), nil
			}
			p, err := s.cfg.Projections.Received(ctx, q)
			if err != nil {
				return nil, err
			}
			return receivedReply(p), nil
		})
	}
}

func (s *Service) handleWallet(req micro.Request) {
	r := s.replier(req)
	user, err := api.UserFromSubject(req.Subject(), s.cfg.Prefix, "wallet")
	if err != nil {
		r.fail(err)
		return
	}
	body, err := api.DecodeWallet(req.Data())
	if err != nil {
		r.fail(err)
		return
	}
	if s.cfg.Projections == nil {
		r.fail(errNoViews)
		return
	}
	s.viewRequest(r, func(ctx context.Context) (any, error) {
		p, err := s.cfg.Projections.Wallet(ctx, user, body.Cursor, body.Limit)
		if err != nil {
			return nil, err
		}
		return walletReply(user, p), nil
	})
}

// The replies of the read models' answers: the one place where their
// results become the contract's replies.

// getReply renders the details of an envelope (hongbao.get), from the
// detail view or from its aggregate (detail.FromAggregate).
func getReply(p detail.Page) api.GetReply {
	e := p.Envelope
	r := api.GetReply{Envelope: api.EnvelopeView{
		EnvelopeID: e.ID, Sender: e.Sender, Kind: string(e.Kind), Total: e.Total, Count: e.Count,
		State: e.Status.String(), OpenedCount: e.OpenedCount, OpenedTotal: e.OpenedTotal, Refunded: e.Refunded,
		Greeting: e.Greeting, CreatedAt: api.FormatTime(e.CreatedAt), ExpiresAt: api.FormatTime(e.ExpiresAt),
	}, Opens: make([]api.OpenView, 0, len(p.Opens)), Next: p.Next}
	for _, o := range p.Opens {
		r.Opens = append(r.Opens, api.OpenView{User: o.User, Amount: o.Amount, Index: o.Index, At: api.FormatTime(o.At), BestLuck: o.BestLuck})
	}
	return r
}

// receivedReply renders a page of hongbao.user.received.
func receivedReply(p users.ReceivedPage) api.ReceivedReply {
	r := api.ReceivedReply{Items: make([]api.ReceivedItem, 0, len(p.Items)), Next: p.Next, Totals: api.ListTotals(p.Totals)}
	for _, v := range p.Items {
		r.Items = append(r.Items, api.ReceivedItem{EnvelopeID: v.EnvelopeID, Sender: v.Sender, Amount: v.Amount, At: api.FormatTime(v.At), BestLuck: v.BestLuck})
	}
	return r
}

// sentReply renders a page of hongbao.user.sent.
func sentReply(p users.SentPage) api.SentReply {
	r := api.SentReply{Items: make([]api.SentItem, 0, len(p.Items)), Next: p.Next, Totals: api.ListTotals(p.Totals)}
	for _, v := range p.Items {
		r.Items = append(r.Items, api.SentItem{EnvelopeID: v.EnvelopeID, Kind: string(v.Kind), Total: v.Total, Count: v.Count,
			OpenedCount: v.OpenedCount, Refunded: v.Refunded, State: v.Status.String(), At: api.FormatTime(v.At)})
	}
	return r
}

// walletReply renders hongbao.wallet.<user>.
func walletReply(user string, p wallets.Page) api.WalletReply {
	r := api.WalletReply{User: user, Balance: p.Balance, Entries: make([]api.WalletEntry, 0, len(p.Entries)), Next: p.Next}
	for _, e := range p.Entries {
		r.Entries = append(r.Entries, api.WalletEntry{TransferID: e.TransferID, Amount: e.Amount, Kind: e.Kind,
			EnvelopeID: e.EnvelopeID, At: api.FormatTime(e.At)})
	}
	return r
}

// adminJob is a rebuild or verify running in this instance.
type adminJob struct {
	ID         string                    `json:"id"`
	Kind       string                    `json:"kind"` // rebuild | verify
	Projection string                    `json:"projection"`
	State      string                    `json:"state"` // running | done | failed
	Progress   projections.Progress      `json:"progress"`
	Result     *projections.VerifyResult `json:"result,omitempty"`
	Error      string                    `json:"error,omitempty"`
	Started    time.Time                 `json:"started"`
	Finished   time.Time                 `json:"finished,omitzero"`
}

type adminJobs struct {
	mu   sync.Mutex
	jobs []*adminJob
}

func (a *adminJobs) snapshot() []adminJob {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]adminJob, len(a.jobs))
	for i, j := range a.jobs {
		out[i] = *j
	}
	return out
}

func (a *adminJobs) update(j *adminJob, f func(*adminJob)) {
	a.mu.Lock()
	f(j)
	a.mu.Unlock()
}

// AdminStatus is the reply of hongbao.admin.<instance>.status.
type AdminStatus struct {
	Instance    string            `json:"instance"`
	Version     string            `json:"version"`
	Projections []projections.Lag `json:"projections"`
	Jobs        []adminJob        `json:"jobs"`
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

func (s *Service) reconcileSummary() *ReconcileSummary {
	if s.cfg.Reconciler == nil {
		return nil
	}
	rep, at, err := s.cfg.Reconciler.Last()
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

// AdminJobRequest is the body of hongbao.admin.<instance>.rebuild and .verify.
type AdminJobRequest struct {
	Projection string `json:"projection"` // detail | users | outbox | all
}

func (s *Service) handleAdminStatus(req micro.Request) {
	r := s.replier(req)
	s.viewRequest(r, func(ctx context.Context) (any, error) {
		st := AdminStatus{Instance: s.micro.Info().ID, Version: Version, Jobs: s.admin.snapshot(),
			Errors: s.errorCounts(), Cached: s.reg.len(), Timers: s.timers.Pending()}
		if s.cfg.Dispatcher != nil {
			ds := s.cfg.Dispatcher.Stats()
			st.Dispatch = &ds
		}
		st.Reconcile = s.reconcileSummary()
		if s.cfg.Projections != nil {
			lags, err := s.cfg.Projections.Status(ctx)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", errUnavailable, err)
			}
			st.Projections = lags
		}
		return st, nil
	})
}

func (s *Service) handleAdminJob(kind string) micro.HandlerFunc {
	return func(req micro.Request) {
		r := s.replier(req)
		var body AdminJobRequest
		if err := decodeAdmin(req.Data(), &body); err != nil {
			r.fail(err)
			return
		}
		if s.cfg.Projections == nil {
			r.fail(errNoViews)
			return
		}
		names := []string{body.Projection}
		if body.Projection == "all" {
			names = projections.Names
		}
		var started []adminJob
		for _, name := range names {
			if !knownProjection(name) {
				r.fail(api.Errorf(api.CodeBadRequest, "projection must be one of detail, users, outbox, all"))
				return
			}
		}
		for _, name := range names {
			j := &adminJob{ID: nuid.Next(), Kind: kind, Projection: name, State: "running", Started: time.Now().UTC()}
			s.admin.mu.Lock()
			s.admin.jobs = append(s.admin.jobs, j)
			s.admin.mu.Unlock()
			started = append(started, *j)
			s.runAdminJob(j)
		}
		r.respond(map[string]any{"instance": s.micro.Info().ID, "jobs": started})
	}
}

func knownProjection(name string) bool {
	for _, n := range projections.Names {
		if n == name {
			return true
		}
	}
	return false
}

func (s *Service) runAdminJob(j *adminJob) {
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		ctx := s.runCtx
		progress := func(p projections.Progress) { s.admin.update(j, func(j *adminJob) { j.Progress = p }) }
		var err error
		var res projections.VerifyResult
		if j.Kind == "rebuild" {
			err = s.cfg.Projections.Rebuild(ctx, j.Projection, progress)
		} else {
			res, err = s.cfg.Projections.Verify(ctx, j.Projection, progress)
		}
		s.admin.update(j, func(j *adminJob) {
			j.Finished = time.Now().UTC()
			switch {
			case err != nil:
				j.State, j.Error = "failed", err.Error()
			default:
				j.State = "done"
				if j.Kind == "verify" {
					j.Result = &res
				}
			}
		})
		if err != nil {
			s.log.Error("admin job failed", "kind", j.Kind, "projection", j.Projection, "err", err)
		}
	}()
}
