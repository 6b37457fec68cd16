// Package ops owns the operation of a running hongbao instance, apart from
// its commands and queries (package service): the admin endpoints
// <prefix>.admin.<instance id>.status|rebuild|verify, the rebuild and verify
// jobs they start on the read models, the report of the periodic
// reconciliation and of the outbox dispatcher, and the instance-wide numbers
// in `nats micro stats`.
//
// Ops is wired in internal/app through small interfaces (Views, Dispatch,
// Reconciler) so that service imports none of dispatch, reconcile or the
// admin side of projections. It plugs into the service's micro service as a
// service.Extension: the service calls Register while it starts, so the admin
// endpoints are part of the same micro service (same name, same instance id,
// listed by `nats micro info`), and they stop with it.
//
// Where the instance-wide numbers are: every endpoint of a micro service
// gets a data blob in $SRV.STATS from one StatsHandler. The instance-wide
// numbers (cached envelopes, pending timers, errors by code, open batches,
// projections' applied sequences, dispatch, last reconciliation) are attached
// once, to the admin-status endpoint: it is the endpoint that belongs to
// one instance, and its reply carries the same numbers. The other endpoints
// carry numbers of their own (see service.EndpointStats).
//
// Invariants this package keeps:
//
//  1. The admin endpoints answer inside the micro handler (req.Respond,
//     req.Error), so micro's own counters of them are exact.
//  2. A job is listed in the status from the moment its request is answered
//     until the instance stops; its state only moves running → done|failed.
//  3. Stop waits for every job it started and every admin request being
//     answered: none outlives the read models it reads or writes.
package ops
