// Package projections will own hongbao's read models in Pebble, built by
// consuming the ENVELOPES stream: per-envelope detail lists with best luck,
// per-user received and sent lists with yearly totals, and the wallet-credit
// outbox. Each consumer's checkpoint is written in the same Pebble batch as
// the rows it covers, so an event is applied exactly once (invariant I6: a
// projection rebuilt from the stream equals the live one).
//
// Not built yet: until it is, hongbao.get is answered from the aggregate.
package projections
