// Package envelope owns the red-envelope aggregate: its state is the fold of
// its events (Apply), and a command is decided against that state into at
// most one new event or a typed error (Wrap, Pay, Open, Grab, Expire,
// Cancel). It is pure: no NATS, no clock of its own (callers pass now), no
// randomness of its own (the seed comes in with Wrap).
//
// The lucky split is the watermark rule of the design (split.go): with R the
// remaining amount and n the remaining count, a share lies in
// [max(MIN, R−(n−1)·MAX), min(MAX, R−(n−1)·MIN, 2R/n)], drawn from
// SHA-256("hongbao/split/v1" ‖ seed ‖ index), so an auditor re-derives every
// share from the Wrapped event alone.
//
// Invariants kept here (numbered as in the architecture; the reconciler
// checks them again from outside):
//
//	I1  Σ opened + refund ≤ total at every event; equality once the
//	    envelope is finished or expired.
//	I2  every share is within [min_share, max_share] and equals what the
//	    split derives from the seed and the open index; Apply refuses an
//	    Opened event that does not (ErrCorrupt).
//	I3  a user opens at most once; at most count opens.
//
// Apply checks I1–I3 on every event it folds, so a corrupted or forged
// stream fails loudly on load instead of being served. Decisions are only
// made on a state that satisfies them.
package envelope
