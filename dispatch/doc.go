// Package dispatch owns delivering the outbox to the ledger: every transfer
// the envelope events imply (projections/outbox), in stream order, into the
// LEDGER (package ledger).
//
// Its cursor, the stream sequence of the last event whose transfers are all
// delivered, lives in the KV bucket HONGBAO_DISPATCH. It is the same for
// every instance (the outbox is keyed by ENVELOPES sequences), moves only
// forward (compare-and-set), and survives rebuilds of the outbox.
//
// A batch's transfers may be delivered escrow by escrow, up to
// Config.Escrows escrows at once (default one), each escrow's in stream
// order: every transfer touches
// exactly one escrow, so only that order matters (a fund before its opens
// and refund).
//
// Invariants this package keeps (I4, with the ledger's idempotency):
//
//  1. A transfer counts as delivered only after the ledger confirmed it
//     durably; the cursor moves past a batch only when every transfer in it
//     is delivered. A dispatcher killed anywhere re-sends at most the
//     transfers of its last batch, and the ledger answers those by id with
//     the original entries: each credit lands exactly once.
//  2. While the ledger is unavailable the dispatcher retries with backoff
//     and never skips.
//  3. A transfer the ledger refuses for good (it would take an escrow below
//     zero, or its id was used with other fields) is parked, logged and
//     counted, never silently dropped: the reconciler reports it as a
//     missing credit, and `hongbao reconcile --repair` can issue it.
//  4. Several instances may dispatch at once: they deliver the same
//     transfers by the same ids, so nothing is paid twice.
package dispatch
