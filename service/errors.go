package service

import (
	"context"
	"errors"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/timers"
)

var (
	errNotFound    = eventstore.ErrNotFound
	errUnavailable = errors.New("service: unavailable")
)

// toAPIError classifies an error into the contract's codes. Anything not
// recognised is a 503: the client may retry, and the log has the cause.
func toAPIError(err error) *api.Error {
	if e, ok := api.AsError(err); ok {
		return e
	}
	var lag *projections.LagError
	switch {
	case errors.As(err, &lag):
		return api.Errorf(api.CodeUnavailable, "the %s view has not reached seq %d yet; retry", lag.View, lag.Seq)
	case errors.Is(err, eventstore.ErrCorrupt), errors.Is(err, envelope.ErrCorrupt):
		return api.Errorf(api.CodeCorrupt, "the envelope's event stream holds an event that does not decode, verify or fold; "+
			"it is not served and retrying will not help (operators: hongbao reconcile)")
	case errors.Is(err, envelope.ErrInvalidAmount):
		return api.Errorf(api.CodeInvalidAmount, "%v", err)
	case errors.Is(err, envelope.ErrInvalidCount):
		return api.Errorf(api.CodeInvalidCount, "%v", err)
	case errors.Is(err, eventstore.ErrNotFound), errors.Is(err, detail.ErrNotFound):
		return api.Errorf(api.CodeNotFound, "no such envelope")
	case errors.Is(err, envelope.ErrNotLive):
		return api.Errorf(api.CodeNotLive, "the envelope is not paid yet, or was cancelled")
	case errors.Is(err, envelope.ErrCancelled):
		return api.Errorf(api.CodeConflict, "the envelope was cancelled: it was not paid in time")
	case errors.Is(err, envelope.ErrPayTimeout):
		return api.Errorf(api.CodeConflict, "the pay deadline has passed: the envelope is cancelled")
	case errors.Is(err, envelope.ErrAlreadyPaid), errors.Is(err, envelope.ErrAmountPaid), errors.Is(err, errWrapConflict):
		return api.Errorf(api.CodeConflict, "%v", err)
	case errors.Is(err, eventstore.ErrUnavailable), errors.Is(err, eventstore.ErrConflict),
		errors.Is(err, timers.ErrUnavailable), errors.Is(err, context.DeadlineExceeded), errors.Is(err, errUnavailable):
		return api.Errorf(api.CodeUnavailable, "the event store did not confirm; retrying is safe")
	case errors.Is(err, errNoViews):
		return api.Errorf(api.CodeUnavailable, "%v", err)
	case errors.Is(err, projections.ErrBusy):
		return api.Errorf(api.CodeConflict, "%v", err)
	case errors.Is(err, projector.ErrBadCursor):
		return api.Errorf(api.CodeBadRequest, "cursor is not one this service gave")
	case errors.Is(err, projector.ErrLagging):
		return api.Errorf(api.CodeUnavailable, "the read model is behind; retry")
	}
	return api.Errorf(api.CodeUnavailable, "internal error; retrying is safe")
}
