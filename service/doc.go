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
//
// # Admission, shedding and degradation (降级, 柔性可用)
//
// A request meets these checks in order, each answered from memory at
// once, before any work is queued:
//
//  1. Global in-flight limit (Config.MaxInFlight, default 20,000): the
//     requests taken and not yet answered (queued in a mailbox, appending,
//     reading a view) are counted; at the limit a new request answers 503
//     overloaded instead of queueing without bound. It is one atomic load,
//     soft (requests admitted at the same instant may pass it by a few),
//     and covers every client endpoint; grabs answered from memory and
//     timers are not counted or shed. Stats().Shed counts the sheds.
//  2. Decoding (400).
//  3. Risk control (Config.Risk, package risk), for wrap (by sender) and
//     open (by user): 403 forbidden for a blocked name, 429 rate_limited
//     with retry_after_ms over the name's limit. Per instance: N instances
//     admit N times the limit unless a name's requests stick to one.
//  4. Per-envelope admission, opens only (Config.OpenAdmission): the
//     mailbox counts its pending opens (queued or being decided, not yet
//     answered). While the cached state is live with r shares left
//     (count - opened), an open that would be pending open number r+1 or
//     more is a surplus: each pending one may still take a share, so this
//     one would most likely find the envelope exhausted. It is not
//     answered exhausted, because that is not certain: a pending open may
//     still fail (its user opened meanwhile, the store did not confirm,
//     the envelope expired) and leave a share. It answers 429 busy, from
//     memory, without being queued (Stats().SurplusOpens); a retry finds
//     exhausted from memory once the envelope finished, or a share that
//     was left. Opens the cached state already answers (the user's share,
//     a finished or expired envelope) never reach the admission. Off, every
//     open queues (up to MaxQueue) and surplus ones answer exhausted once
//     the envelope finished, as in v1.
//
// So the memory of a storm is bounded by MaxInFlight requests in flight
// (a pending open is a few hundred bytes), plus per hot envelope at most
// its shares left of opens; everything beyond answers at once.
// TestOverloadStorm fires 50,000 concurrent opens at one instance.
//
// Degradation: opens depend on the event store alone. A lagging or stalled
// read model, or an unreachable ledger (the dispatcher credits wallets
// asynchronously from the outbox), does not stop them; a query that asks
// for read-your-writes (after_seq) answers 503 unavailable when the view
// cannot catch up within the request timeout, rather than stale data
// (TestOverloadDegraded).
package service
