package service

import (
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/api"
)

// lateErrors counts the error replies of one endpoint that were sent after
// its micro handler had returned (from a mailbox or a goroutine): micro
// counts only what a handler answered before returning (see replier).
type lateErrors struct {
	mu   sync.Mutex
	n    int
	last string
}

// record counts e, worded as micro words its last_error.
func (l *lateErrors) record(e *api.Error) {
	last := strconv.Itoa(e.Status) + ":" + e.Message
	l.mu.Lock()
	l.n++
	l.last = last
	l.mu.Unlock()
}

// LateErrors is the data of a service endpoint in $SRV.STATS (`nats micro
// stats hongbao --json`): the error replies sent after the endpoint's
// handler returned, which micro's num_errors and last_error cannot see.
// The endpoint's errors are num_errors + async_errors; micro's
// processing_time is the time in the handler (decoding, admission), not
// the time to the reply.
type LateErrors struct {
	AsyncErrors    int    `json:"async_errors"`
	LastAsyncError string `json:"last_async_error,omitempty"`
}

func (l *lateErrors) stats() LateErrors {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LateErrors{AsyncErrors: l.n, LastAsyncError: l.last}
}

// endpointErrors are the late errors of each service endpoint.
type endpointErrors struct {
	wrap, pay, grab, open, get, received, sent, wallet lateErrors
	other                                              lateErrors // a subject none of them takes (not served)
}

// of returns the counters of the endpoint that serves subject, without
// allocating: it runs for every request.
func (e *endpointErrors) of(prefix, subject string) *lateErrors {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok || rest == "" || rest[0] != '.' {
		return &e.other
	}
	verb, rest, _ := strings.Cut(rest[1:], ".")
	switch verb {
	case "wrap":
		return &e.wrap
	case "pay":
		return &e.pay
	case "grab":
		return &e.grab
	case "open":
		return &e.open
	case "get":
		return &e.get
	case "wallet":
		return &e.wallet
	case "user":
		switch rest {
		case "received":
			return &e.received
		case "sent":
			return &e.sent
		}
	}
	return &e.other
}

// byName returns the counters of the endpoint named name, nil for none of
// the service's.
func (e *endpointErrors) byName(name string) *lateErrors {
	switch name {
	case "wrap":
		return &e.wrap
	case "pay":
		return &e.pay
	case "grab":
		return &e.grab
	case "open":
		return &e.open
	case "get":
		return &e.get
	case "user-received":
		return &e.received
	case "user-sent":
		return &e.sent
	case "wallet":
		return &e.wallet
	}
	return nil
}

// endpointStats is the data of ep in $SRV.STATS: the extension's for its
// own endpoints (ops puts the instance-wide numbers on one of them, once),
// LateErrors for the service's.
func (s *Service) endpointStats(ep *micro.Endpoint) any {
	if s.cfg.Extension != nil {
		if data, ok := s.cfg.Extension.EndpointStats(ep); ok {
			return data
		}
	}
	if l := s.late.byName(ep.Name); l != nil {
		return l.stats()
	}
	return nil
}
