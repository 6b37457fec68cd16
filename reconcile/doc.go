// Package reconcile owns the proof that the money adds up: it replays the
// ENVELOPES stream against the LEDGER stream and reports every discrepancy
// by kind, with the ids needed to find it.
//
// It never trusts the aggregate: envelope.Apply refuses a forged event, so
// the reconciler folds every envelope with its own lenient fold that accepts
// anything that decodes, re-derives every share from the envelope's seed,
// and classifies what is wrong instead of stopping at the first problem.
//
// Invariants it checks (numbers as in the architecture document):
//
//	I1  Σ opened + refund ≤ total for every envelope, with equality once it
//	    is finished or expired; an expiry refunds exactly total − Σ opened.
//	    Kinds over_issue, refund_mismatch (and invalid_history for events
//	    that cannot follow the history, e.g. a payment of another amount).
//	I2  Every share is within [min_share, max_share] and equals what the
//	    split derives from the seed, the open's index and the remaining
//	    amount and count before it (equal envelopes: total/count).
//	    Kind share_not_derivable.
//	I3  A user opens an envelope at most once; at most count opens, with
//	    indexes 1, 2, 3, … and consistent remaining fields.
//	    Kinds duplicate_open, over_issue.
//	I4  Every transfer an event implies (outbox.TransfersOf: fund per Paid,
//	    open per Opened, refund per Expired with a refund) is in the ledger
//	    exactly once under its deterministic id, with the same amount and
//	    accounts; the ledger holds no credit without its event.
//	    Kinds missing_credit, amount_mismatch, duplicate_credit,
//	    orphan_transfer.
//	I5  Every ledger entry is a valid double-entry transfer, the sum of all
//	    balances is zero, no escrow goes below zero at any entry, each entry
//	    records the escrow balance the entries before it give, and an
//	    envelope's escrow ends at zero once it is finished, expired or
//	    cancelled (and holds total − Σ opened while live).
//	    Kinds unbalanced, escrow_not_zero.
//
// I6 (projections equal their rebuild) is `hongbao rebuild --verify`'s job;
// I7 (no reply for a lost event) is a property of the service's write path
// and is tested there.
//
// Run reads both streams whole with ordered consumers, a snapshot taken at
// the start (LEDGER's last sequence first, then ENVELOPES', so that every
// ledger entry read has its event read too), decoding each message once on
// a pool of workers; it holds one small state per envelope and the ledger's
// entries in memory until the comparison. Audit explains one envelope with
// the same checks; Periodic runs Run on a timer for the service.
//
// Repair issues missing credits, and nothing else. It issues only those
// marked Repairable: on an envelope that shows a forged or impossible event,
// an altered amount, a duplicate or an orphan, issuing the "missing" credit
// could pay for nothing or pay twice, so that is left to a human.
package reconcile
