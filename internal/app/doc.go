// Package app assembles a whole hongbao instance on a NATS connection: the
// event store, the ledger, the read models, the dispatcher and the service,
// started in dependency order and stopped in reverse. `hongbao serve` and
// `hongbao bench` both run exactly this.
package app
