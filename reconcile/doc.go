// Package reconcile will own the proof that the money adds up: it replays
// ENVELOPES against LEDGER and checks invariants I1–I5 (shares re-derived
// from each envelope's seed, one credit per Opened and per refund, double
// entry, escrows ending at zero), reporting every discrepancy by kind.
//
// Not built yet.
package reconcile
