package service

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/api"
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
	r = r.later()
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
		if s.overloaded(r) {
			return
		}
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
	if s.overloaded(r) {
		return
	}
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
