// Package lint owns the project's structural rules, checked as a plain test
// (in the style of pebble's internal/lint) so that `go test ./...` enforces
// them with nothing else installed. It has no code of its own: lint_test.go
// asks `go list` for the module's packages (discovered, never listed by
// hand, so new and moved packages are covered) and checks:
//
//  1. imports: the pure core (aggregates/..., events, api) depends, even
//     transitively, on neither NATS (nats.go, nats-server) nor Pebble; the
//     read models (projections/...) do not depend on the client contract
//     (api).
//  2. money: no float32/float64 in money code (aggregates, events, ledger,
//     projections, reconcile, dispatch, eventstore, service), outside
//     declarations allowlisted with a reason (statistics, not money).
//  3. tests poll, never sleep: no time.Sleep in _test.go files outside an
//     allowlist with reasons.
//  4. every package has a doc.go holding its package comment, which starts
//     "Package <name>" ("Command <name>" for a main package).
//  5. every switch over the event types (events.Type values or the
//     events.Payload types) in non-test code either names every event type
//     or has a default that returns an error or panics, so a new event type
//     cannot be silently ignored.
//
// Every allowlist entry must still be needed: an entry that matches nothing
// fails the test, so allowlists only shrink.
package lint
