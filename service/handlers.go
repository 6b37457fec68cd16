package service

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/risk"
)

// replier answers one request. Replies are published on the connection to
// the request's reply subject, not through micro.Request, with one
// exception: an error decided while the micro handler runs goes through
// req.Error. micro reads a request's outcome (micro's num_errors,
// last_error) when its handler returns, without a lock against later
// writes; most replies are sent from a mailbox or a goroutine after that,
// where calling req.Error would race with micro and count nothing. So:
//
//   - inside the handler (req set): errors via req.Error, counted by micro;
//     successes via a plain publish (no message to allocate; micro counts
//     the request either way);
//   - handed on (later, req nil): errors counted in the endpoint's
//     async_errors and last_async_error, which $SRV.STATS shows in the
//     endpoint's data (nats micro has no API to add to its own counters).
//
// A replier must be handed on with later before it leaves the handler.
type replier struct {
	s              *Service
	subject, reply string
	req            micro.Request // nil once handed on
	late           *lateErrors   // the endpoint's errors sent after its handler returned
}

func (s *Service) replier(req micro.Request) replier {
	subject := req.Subject()
	return replier{s: s, subject: subject, reply: req.Reply(), req: req, late: s.late.of(s.cfg.Prefix, subject)}
}

// later is r to answer after the micro handler returned, from a mailbox
// or a goroutine.
func (r replier) later() replier {
	r.req = nil
	return r
}

// respond sends a JSON reply.
func (r replier) respond(v any) {
	if o, ok := v.(api.OpenReply); ok { // every open: without reflection
		r.publishData(o.AppendJSON(make([]byte, 0, 96)))
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		r.s.log.Error("reply does not encode", "subject", r.subject, "err", err)
		r.fail(err)
		return
	}
	r.publishData(b)
}

// fail answers with the contract's error for err: the micro error headers
// and the JSON error body.
func (r replier) fail(err error) {
	e := toAPIError(err)
	if e.Status >= 500 && e.Code != api.CodeCorrupt { // corrupt: logged once, by load
		r.s.log.Warn("request failed", "subject", r.subject, "err", err)
	}
	r.s.countError(e.Code)
	if r.reply == "" {
		return // a publish, not a request: nobody to answer
	}
	if r.req != nil {
		// Inside the handler: micro counts it.
		if err := r.req.Error(strconv.Itoa(e.Status), e.Message, e.Body()); err != nil {
			r.s.log.Warn("reply not sent", "subject", r.subject, "err", err)
		}
		return
	}
	r.late.record(e)
	r.publish(&nats.Msg{Data: e.Body(), Header: nats.Header{
		micro.ErrorCodeHeader: []string{strconv.Itoa(e.Status)},
		micro.ErrorHeader:     []string{e.Message},
	}})
}

func (r replier) publish(m *nats.Msg) {
	if r.reply == "" {
		return // a publish, not a request: nobody to answer
	}
	m.Subject = r.reply
	if err := r.s.nc.PublishMsg(m); err != nil {
		r.s.log.Warn("reply not sent", "subject", r.subject, "err", err)
	}
}

// publishData answers with data and no headers (no message to allocate).
func (r replier) publishData(data []byte) {
	if r.reply == "" {
		return
	}
	if err := r.s.nc.Publish(r.reply, data); err != nil {
		r.s.log.Warn("reply not sent", "subject", r.subject, "err", err)
	}
}

// requestContext is the context of one request's store work: it ends
// RequestTimeout after now, or up to 1/64 of it later. Requests that start
// within the same 1/64 share one context, so that each does not start and
// stop a timer of its own (two timers were a tenth of an open's cost); a
// shared context ends by its deadline alone, and the CancelFunc returned
// does nothing.
func (s *Service) requestContext() (context.Context, context.CancelFunc) {
	now := time.Now()
	d := &s.deadlines
	d.Lock()
	defer d.Unlock()
	if d.ctx == nil || !now.Before(d.until) {
		slot := s.cfg.RequestTimeout / 64
		// Not cancelled early: its timer releases it at the deadline.
		d.ctx, d.cancel = context.WithDeadline(context.Background(), now.Add(s.cfg.RequestTimeout+slot))
		d.until = now.Add(slot)
	}
	return d.ctx, func() {}
}

// envelopeRequest decodes the envelope id from the subject and the body;
// on bad input it answers 400 and reports false.
func envelopeRequest[T any](s *Service, req micro.Request, verb string, decode func([]byte) (T, error)) (replier, string, T, bool) {
	var zero T
	r := s.replier(req)
	if s.overloaded(r) {
		return r, "", zero, false
	}
	id, err := api.EnvelopeIDFromSubject(req.Subject(), s.cfg.Prefix, verb)
	if err != nil {
		r.fail(err)
		return r, "", zero, false
	}
	body, err := decode(req.Data())
	if err != nil {
		r.fail(err)
		return r, "", zero, false
	}
	return r, id, body, true
}

// enqueue runs j in id's mailbox, answering busy when it is full.
func (s *Service) enqueue(r replier, id string, j job) {
	if !s.submit(id, j) {
		r.fail(api.Errorf(api.CodeBusy, "envelope %s has too many requests waiting; retry later", id))
	}
}

func (s *Service) handlePay(req micro.Request) {
	r, id, body, ok := envelopeRequest(s, req, "pay", api.DecodePay)
	if !ok {
		return
	}
	later := r.later()
	s.enqueue(r, id, func(e *entry) {
		r := later
		ctx, cancel := s.requestContext()
		defer cancel()
		st, _, err := s.decideAndAppend(ctx, e, func(st *envelope.Envelope) (*eventDecision, error) {
			ev, err := st.Pay(body.PaymentID, body.Amount, s.cfg.Now())
			if err != nil || ev == nil {
				return nil, err
			}
			due := ev.Data.(events.Paid).ExpiresAt
			return &eventDecision{event: *ev, timer: &due}, nil
		})
		if errors.Is(err, envelope.ErrPayTimeout) {
			s.tick(ctx, e) // cancel it now rather than at the next timer
		}
		if err != nil {
			r.fail(err)
			return
		}
		r.respond(api.PayReply{EnvelopeID: id, State: st.Status.String(), ExpiresAt: api.FormatTime(st.ExpiresAt)})
	})
}

func (s *Service) handleGrab(req micro.Request) {
	r, id, body, ok := envelopeRequest(s, req, "grab", api.DecodeUser)
	if !ok {
		return
	}
	answer := func(r replier, st *envelope.Envelope) {
		res, err := st.Grab(body.User, s.cfg.Now())
		if errors.Is(err, envelope.ErrNotLive) {
			r.respond(api.GrabReply{Status: api.StatusNotLive})
			return
		}
		r.respond(api.GrabReply{Status: res.Outcome.String(), Amount: res.Amount})
	}
	// From memory, unless the cached state says "not paid yet": that one
	// answer may be stale (another instance may have taken the payment).
	answered := false
	s.reg.get(id).read(func(st *envelope.Envelope) {
		if st.Status != envelope.StatusWrapped {
			answer(r, st)
			answered = true
		}
	})
	if answered {
		return
	}
	later := r.later()
	s.enqueue(r, id, func(e *entry) {
		r := later
		ctx, cancel := s.requestContext()
		defer cancel()
		if e.state != nil && e.state.Status == envelope.StatusWrapped {
			e.setState(nil)
		}
		st, err := s.load(ctx, e)
		if err != nil {
			r.fail(err)
			return
		}
		answer(r, st) // the mailbox is the only writer: no lock needed here
	})
}

func (s *Service) handleOpen(req micro.Request) {
	r, id, body, ok := envelopeRequest(s, req, "open", api.DecodeUser)
	if !ok {
		return
	}
	if e := s.cfg.Risk.Check(risk.VerbOpen, body.User); e != nil {
		r.fail(e)
		return
	}
	// Answers that no later event can change come from memory, ahead of
	// the queue: an opener's own share, and exhausted or expired on an
	// envelope that has ended.
	if s.answerOpenFromMemory(r, s.reg.get(id), body.User) {
		return
	}
	done := s.take()
	switch s.reg.submitOpen(id, &openReq{r: r.later(), user: body.User, done: done}, s.cfg.OpenAdmission) {
	case admitFull:
		done()
		r.fail(api.Errorf(api.CodeBusy, "envelope %s has too many requests waiting; retry later", id))
	case admitSurplus:
		done()
		s.surplus.Add(1)
		r.fail(api.Errorf(api.CodeBusy, "envelope %s: the opens pending take every share left; retry later", id))
	}
}

// openReq is an open waiting in its envelope's mailbox.
type openReq struct {
	r    replier // handed on (later)
	user string
	done func() // the request is answered (for Stop)
}

// openGroup runs the opens at the head of e's mailbox, in order. Behind a
// hot envelope's queue most openers find it ended: they are answered from
// memory. The rest are decided in a row and appended as one atomic batch
// (openBatch); when that cannot be done they run one by one.
//
// A group too small to batch runs only its first open and leaves the rest
// for later: they go back to the head of the mailbox and are grouped again
// with the opens that arrived meanwhile. The head of a burst reaches the
// mailbox a few opens at a time, and appending those one by one, each
// behind the burst's traffic, took longer than the batch of all the rest.
func (s *Service) openGroup(e *entry, opens []*openReq) (later []*openReq) {
	left := make([]*openReq, 0, len(opens))
	for _, o := range opens {
		if s.answerOpenFromMemory(o.r, e, o.user) {
			o.done()
		} else {
			left = append(left, o)
		}
	}
	batching := !s.noBatch.Load()
	switch {
	case len(left) == 0:
		return nil
	case batching && len(left) >= s.cfg.MinOpenBatch && s.openBatch(e, left):
		for _, o := range left {
			o.done()
		}
		return nil
	case batching && len(left) < s.cfg.MinOpenBatch:
		s.openOne(e, left[0].r, left[0].user)
		left[0].done()
		return left[1:]
	}
	for _, o := range left {
		// Decided against the state as it is by then: an open behind
		// others that ended the envelope answers exhausted there.
		s.openOne(e, o.r, o.user)
		o.done()
	}
	return nil
}

// openBatch decides opens one after another on a copy of e's state and
// appends their events as one batch; only once it is stored does it apply
// them to the cached state and answer, in order. It reports false, having
// written and answered nothing, when the opens must run one by one instead:
// a decision the batch does not take (not live, which may be stale;
// expired, which also expires the envelope; fewer events than
// MinOpenBatch), a
// conflict with another writer, or a stream without atomic batches.
func (s *Service) openBatch(e *entry, opens []*openReq) bool {
	ctx, cancel := s.requestContext()
	defer cancel()
	st, err := s.load(ctx, e)
	if err != nil {
		return false // one by one, each answers its own error
	}
	now := s.cfg.Now()
	work := *st
	work.Opens = slices.Clip(st.Opens) // appending copies: st stays as it is
	results := make([]envelope.Result, len(opens))
	evs := make([]events.Event, 0, len(opens))
	for i, o := range opens {
		res, ev, err := work.Open(o.user, now)
		if err != nil || res.Outcome == envelope.OutcomeExpired {
			return false
		}
		if ev != nil {
			if err := work.Apply(0, *ev); err != nil {
				return false
			}
			evs = append(evs, *ev)
		}
		results[i] = res
	}
	if len(evs) < s.cfg.MinOpenBatch {
		return false
	}
	last, err := s.store.AppendBatch(ctx, st.LastSeq, evs)
	switch {
	case errors.Is(err, eventstore.ErrBatchUnsupported):
		s.log.Warn("the envelope stream does not allow atomic batches: appending opens one by one", "err", err)
		s.noBatch.Store(true)
		return false
	case errors.Is(err, eventstore.ErrConflict):
		e.setState(nil) // another instance wrote: one by one, after a reload
		return false
	case err != nil:
		e.setState(nil) // the outcome may be unknown: the next command reloads
		for _, o := range opens {
			o.r.fail(err)
		}
		return true
	}
	s.batches.Add(1)
	s.batchedOpens.Add(int64(len(evs)))
	first := last - uint64(len(evs)) + 1
	e.mu.Lock()
	for i, ev := range evs {
		if err = st.Apply(first+uint64(i), ev); err != nil {
			break
		}
	}
	e.mu.Unlock()
	if err != nil {
		e.setState(nil)
		s.log.Error("a stored batch of opens does not apply to the cached state", "envelope", e.id, "err", err)
		for _, o := range opens {
			o.r.fail(err)
		}
		return true
	}
	seq := first
	for i, o := range opens {
		res := results[i]
		reply := api.OpenReply{Status: res.Outcome.String(), Amount: res.Amount, Index: res.Index}
		if res.Outcome == envelope.OutcomeOpened {
			remaining := res.RemainingCount
			reply.RemainingCount, reply.Seq = &remaining, seq
			seq++
		}
		o.r.respond(reply)
	}
	return true
}

// openOne decides and appends one open.
func (s *Service) openOne(e *entry, r replier, user string) {
	ctx, cancel := s.requestContext()
	defer cancel()
	var res envelope.Result
	_, seq, err := s.decideAndAppend(ctx, e, func(st *envelope.Envelope) (*eventDecision, error) {
		var ev *events.Event
		var err error
		res, ev, err = st.Open(user, s.cfg.Now())
		if err != nil || ev == nil {
			return nil, err
		}
		return &eventDecision{event: *ev}, nil
	})
	if err != nil {
		r.fail(err)
		return
	}
	reply := api.OpenReply{Status: res.Outcome.String(), Amount: res.Amount, Index: res.Index}
	if res.Outcome == envelope.OutcomeOpened {
		remaining := res.RemainingCount
		reply.RemainingCount, reply.Seq = &remaining, seq
	}
	r.respond(reply)
	if res.Outcome == envelope.OutcomeExpired {
		s.tick(ctx, e) // expire it now rather than at the next timer
	}
}

func (s *Service) handleGet(req micro.Request) {
	r, id, body, ok := envelopeRequest(s, req, "get", api.DecodeGet)
	if !ok {
		return
	}
	s.viewRequest(r, func(ctx context.Context) (any, error) {
		from, err := detail.ParseCursor(body.Cursor)
		if err != nil {
			return nil, err
		}
		var p detail.Page
		if s.cfg.Projections != nil {
			p, err = s.cfg.Projections.Detail(ctx, id, from, body.Limit, body.AfterSeq)
		}
		if s.cfg.Projections == nil || errors.Is(err, detail.ErrNotFound) {
			// Not projected yet (just wrapped), or no such envelope: the
			// aggregate knows.
			p, err = s.getFromAggregate(ctx, id, from, body)
		}
		if err != nil {
			return nil, err
		}
		return getReply(p), nil
	})
}

// Replies that never vary, encoded once.
var (
	replyExhausted = []byte(`{"status":"exhausted"}`)
	replyExpired   = []byte(`{"status":"expired"}`)
)

// answerOpenFromMemory answers an open from e's cached state when the
// answer is final whatever happens next: the user's earlier share, or an
// envelope that has finished or expired. It reports whether it answered.
func (s *Service) answerOpenFromMemory(r replier, e *entry, user string) bool {
	var reply []byte
	var opened *api.OpenReply
	e.mu.Lock() // as entry.read, without a closure to allocate per request
	if st := e.state; st != nil {
		if sh, i, ok := st.Opened(user); ok {
			opened = &api.OpenReply{Status: api.StatusAlreadyOpened, Amount: sh.Amount, Index: i}
		} else {
			switch st.Status {
			case envelope.StatusFinished:
				reply = replyExhausted
			case envelope.StatusExpired:
				reply = replyExpired
			}
		}
	}
	e.mu.Unlock()
	switch {
	case opened != nil:
		r.respond(*opened)
	case reply != nil:
		r.publishData(reply)
	default:
		return false
	}
	return true
}

// getFromAggregate answers get from the envelope's aggregate, through its
// mailbox, from the open of index from on.
func (s *Service) getFromAggregate(ctx context.Context, id string, from int, body api.GetRequest) (detail.Page, error) {
	type result struct {
		page detail.Page
		err  error
	}
	done := make(chan result, 1)
	if !s.submit(id, func(e *entry) {
		if e.state != nil && e.state.LastSeq < body.AfterSeq {
			e.setState(nil) // the caller has seen a later write: read the store
		}
		st, err := s.load(ctx, e)
		if err != nil {
			done <- result{err: err}
			return
		}
		done <- result{page: detail.FromAggregate(st, from, body.Limit)}
	}) {
		return detail.Page{}, api.Errorf(api.CodeBusy, "envelope %s is busy", id)
	}
	select {
	case res := <-done:
		return res.page, res.err
	case <-ctx.Done():
		return detail.Page{}, ctx.Err()
	}
}

// onTimer is called by the timers when id's timer is due.
func (s *Service) onTimer(id string) {
	if !s.submit(id, func(e *entry) {
		ctx, cancel := s.requestContext()
		defer cancel()
		s.tick(ctx, e)
	}) {
		s.timers.Retry(id, time.Second)
	}
}

// tick applies whatever is due on e (cancel or expire) and then moves or
// deletes its timer. Runs in the mailbox.
func (s *Service) tick(ctx context.Context, e *entry) {
	st, _, err := s.decideAndAppend(ctx, e, func(st *envelope.Envelope) (*eventDecision, error) {
		now := s.cfg.Now()
		if ev := st.Cancel(now); ev != nil {
			return &eventDecision{event: *ev}, nil
		}
		if ev := st.Expire(now); ev != nil {
			return &eventDecision{event: *ev}, nil
		}
		return nil, nil
	})
	switch {
	case errors.Is(err, errNotFound):
		err = s.timers.Delete(ctx, e.id) // a timer written for a wrap that never landed
	case err != nil:
	default:
		if due, pending := st.Due(); pending {
			err = s.timers.Set(ctx, e.id, due)
		} else {
			err = s.timers.Delete(ctx, e.id)
		}
	}
	if err != nil {
		s.log.Warn("timer: envelope not settled, retrying", "envelope", e.id, "err", err)
		s.timers.Retry(e.id, time.Second)
	}
}
