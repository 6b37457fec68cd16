// Package app assembles a whole hongbao instance on a NATS connection: the
// event store, the ledger, the read models, the dispatcher, the periodic
// reconciler, the service (commands and queries) and its operations (package
// ops: admin endpoints, rebuild and verify jobs, instance stats), started in
// dependency order and stopped in reverse. `hongbao serve` and
// `hongbao bench` both run exactly this.
package app
