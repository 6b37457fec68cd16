// Package service owns the hongbao NATS micro service: it decodes requests
// (package api), runs each envelope's commands one at a time in arrival order
// in a per-envelope mailbox, decides them with the aggregate
// (aggregates/envelope), appends the events (eventstore), keeps live
// aggregates in a bounded cache, and drives the durable timers (timers).
// It answers the queries (get, user lists, wallet) from the read models.
// Operating an instance (admin endpoints, rebuild and verify jobs, the
// instance-wide stats) is package ops, plugged in as an Extension.
//
// Invariants this package keeps:
//
//  1. One mailbox per envelope per process: an envelope's commands are
//     decided and appended strictly one after another, so a hot envelope
//     costs no conflicts inside one instance. Across instances the store's
//     expected-sequence check serializes; a conflict is retried inside after
//     a reload and never reaches the client. Opens queued behind one
//     another are decided in a row, on a copy of the state, and appended
//     as one atomic batch (eventstore.AppendBatch): the cached state takes
//     them and their openers are answered only once the whole batch is
//     stored; a batch refused (conflict, a stream without atomic batches)
//     wrote nothing, and its opens run one by one.
//  2. A reply of opened, live (pay) or wrapped is sent only after the event
//     store acknowledged the event (I7). When an append's outcome is unknown
//     the cached state is dropped and the client gets 503 unavailable; the
//     retry reloads and answers from the truth (a retried open answers
//     already_opened with the share that landed).
//  3. grab never writes; it is answered from the cached state (the mailbox
//     loads it on a miss).
//  4. wrap is idempotent by sender + request_id and pay by payment_id across
//     restarts: wrap through the KV bucket HONGBAO_WRAPS, pay through the
//     Paid event itself.
//  5. Every wrapped or live envelope has a durable timer (written before the
//     event that needs it), so unpaid envelopes are cancelled and live ones
//     expire with the exact refund even across restarts.
package service
