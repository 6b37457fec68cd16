package service

import (
	"context"
	"errors"

	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/api"
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
		body, err := api.DecodeList(req.Data())
		if err != nil {
			r.fail(err)
			return
		}
		if s.cfg.Projections == nil {
			r.fail(errNoViews)
			return
		}
		s.viewRequest(r, func(ctx context.Context) (any, error) {
			if sent {
				return s.cfg.Projections.Sent(ctx, body)
			}
			return s.cfg.Projections.Received(ctx, body)
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
	s.viewRequest(r, func(ctx context.Context) (any, error) { return s.cfg.Projections.Wallet(ctx, user, body) })
}
