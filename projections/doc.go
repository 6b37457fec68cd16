// Package projections owns hongbao's read models and their operation: the
// detail, users and outbox projections (sub-packages), each in its own
// Pebble database fed from the ENVELOPES stream by its own projector
// (projections/projector), and the operator's tools: status with lag,
// rebuild with a swap that keeps queries answered, and verify.
//
// Layout on disk: <dir>/<name>/CURRENT names the live generation,
// <dir>/<name>/gen-NNNNNN/ is a Pebble database. A rebuild writes the next
// generation beside the live one from stream sequence 1, catches it up to
// the live one, switches queries to it under a lock (readers finish first),
// writes CURRENT atomically and removes the old generation. A crash before
// CURRENT is rewritten leaves the old generation live; the half-built one is
// removed on the next open.
//
// Separate databases let one projection be rebuilt, verified or lag without
// touching the others, at the price of reading the stream once per
// projection.
//
// Read models own their rows and their answers: queries return the
// sub-packages' own types (detail.Page, users.ReceivedPage, wallets.Page,
// …) and errors with a package prefix (detail.ErrNotFound,
// projector.ErrBadCursor, LagError wrapping projector.ErrLagging, ErrBusy).
// Nothing here imports the wire contract (package api) or chooses a reply
// status: the service renders replies and maps errors to the contract's
// codes. State names and best luck are the aggregate's
// (aggregates/envelope: Status.String, Luckier).
//
// Specifications: each sub-package's testdata/ scripts state what its
// rows answer for given events (projectiontest writes the events); the
// contract suite (contract_test.go) holds every projection to the same
// promises: exactly-once across restarts and crashes, I6, and formats.
//
// Invariants:
//
//	I6  a projection rebuilt from the stream equals the live one: Verify
//	    builds a fresh copy up to the live checkpoint and compares every row.
//	    The projector invariants (exactly-once, in order, loud failure)
//	    are what make it hold.
package projections
