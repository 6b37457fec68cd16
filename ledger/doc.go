// Package ledger owns hongbao's double-entry wallet ledger on the LEDGER
// stream. A transfer moves an amount from a debit account to a credit
// account; the accounts are the payment system ("external"), one escrow per
// envelope ("escrow:<envelope>") and one wallet per user ("wallet:<user>").
// Every transfer touches exactly one escrow: fund (external → escrow), open
// (escrow → opener's wallet) and refund (escrow → sender's wallet).
//
// So each escrow has a subject, ledger.escrow.<envelope>, holding every
// transfer that touches it, and that subject is the escrow's serializer:
// a transfer is appended with the escrow's expected last sequence
// (streamlog.Log), after folding the subject (at most count + 2 messages).
//
// Invariants this package keeps:
//
//	I5  Double entry: a transfer debits one account and credits another by
//	    the same positive amount; the sum of all balances is zero by
//	    construction. An escrow never goes below zero: a transfer that would
//	    take it there is refused (ErrInsufficient) and nothing is written.
//	    Each entry records the escrow balance after it.
//	    Idempotency by id, forever: a transfer id already on the escrow's
//	    subject returns the original entry (Result.Duplicate); the same id
//	    with different fields is ErrMismatch. This does not depend on
//	    JetStream's duplicate window.
//	    Durability: Transfer returns only after JetStream acknowledged the
//	    entry (sync_interval: always); an unknown outcome is ErrUnavailable,
//	    and retrying the same transfer is always safe.
package ledger
