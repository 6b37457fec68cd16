// Package outbox owns the record of money the ledger must move because of
// envelope events: every transfer the events imply, under a deterministic
// transfer id, in stream order. The ledger's dispatcher delivers them.
//
//	fund:<envelope>           Paid: the payment system (external) funds the envelope's escrow
//	open:<envelope>:<index>   Opened: escrow credits the opener's wallet
//	refund:<envelope>         Expired with a refund above zero: escrow credits the sender
//
// Rows (prefix "o/"), format 2 (Projection.Format):
//
//	o/s/<envelope>        the sender, for the refund
//	o/q/<seq uint64be>    the transfer of the event at seq, compact (see
//	                      appendRow): the dispatch queue, in stream order
//
// Invariants: exactly one transfer per Opened and per refund above zero,
// one per Paid; ids are derived from the event alone, so re-projecting an
// event can only write the same row (the ledger treats ids as idempotency
// keys); nothing here is ever deleted by the projection (I4, I6).
package outbox
