// Package outbox owns the record of money the ledger must move because of
// envelope events: every transfer the events imply, under a deterministic
// transfer id, in stream order. The ledger's dispatcher delivers them.
//
//	fund:<envelope>           Paid: the payment system (external) funds the envelope's escrow
//	open:<envelope>:<index>   Opened: escrow credits the opener's wallet
//	refund:<envelope>         Expired with a refund above zero: escrow credits the sender
//
// Rows (prefix "o/"):
//
//	o/t/<transfer id>     the transfer
//	o/q/<seq uint64be>    transfer id, in stream order (the dispatch queue)
//
// Invariants: exactly one transfer per Opened and per refund above zero,
// one per Paid; ids are derived from the event alone, so re-projecting an
// event can only write the same row (the ledger treats ids as idempotency
// keys); nothing here is ever deleted by the projection (I4, I6).
package outbox
