// Package projectiontest is the test harness the projections share: one
// text form for envelope events, so that the data-driven scripts of every
// read model (testdata/ under detail, users, outbox, wallets) read alike,
// and an environment that puts those events through the real path: a
// real embedded JetStream server (internal/natstest), the event store's
// appends, the ledger's transfers, and projectors feeding real Pebble
// databases under t.TempDir(). Tests reach the projections only through
// their public API (projector.New/NewRaw, CatchUp, the query functions),
// never through the projector's internals.
//
// # The event text form
//
// One event a line: its type, the envelope's short name (env=), and the
// fields that are not derived. Fields the aggregate would derive are
// derived from the envelope's earlier events:
//
//	wrapped   env=E1 [at=T] [sender=alice] [kind=lucky|equal] total=N count=N [greeting=(…)]
//	paid      env=E1 [at=T] [amount=total] [expires-at=T (+24h: after at)]
//	opened    env=E1 [at=T] user=U [amount=N (total/count for equal)]
//	          index and remaining amount and count are derived
//	expired   env=E1 [at=T] [refund=what is left]   opened-count is derived
//	cancelled env=E1 [at=T] [reason=(pay timeout)]
//
// T is an instant in RFC 3339 (2025-12-31T16:30:00Z) or an offset (+90s):
// from the previous event's time for at=, from the event's own for
// expires-at=. Without at= an event is one second after the previous one;
// a script's first event is at 2026-02-10T12:00:00Z (Start). A short name
// is 1 to 22 characters of [0-9A-Z]; the envelope's id is it, padded into
// a ULID (ID). Events are not checked against the aggregate's rules (a
// script may write an impossible share); they must only be events the
// events package encodes.
//
// Events are printed back in the same form with every field (Format),
// behind the stream sequence the store gave them.
package projectiontest
