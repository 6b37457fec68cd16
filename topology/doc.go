// Package topology owns the names of one hongbao deployment: its streams,
// the subjects events and ledger entries are stored on (and the filters
// that select them), its key-value buckets, and the partition of an
// envelope. Every other package asks a Topology for a name and never spells
// one itself, so that partitioning the streams (architecture.md, "Scale
// beyond one machine") is a change here and in the places that loop over
// partitions, not a hunt for string literals.
//
// Today a deployment has one partition: one ENVELOPES stream with an
// envelope's events on envelope.<id>, one LEDGER stream with an escrow's
// entries on ledger.escrow.<id>, and the buckets HONGBAO_TIMERS,
// HONGBAO_DISPATCH and HONGBAO_WRAPS. The zero Topology is that deployment
// (Default); a Topology with other stream names or subject prefixes is one
// whose every name is derived from them.
//
// Invariants this package keeps:
//
//  1. Names only: it imports neither nats.go nor Pebble, and does no I/O.
//  2. Each envelope's events live on exactly one subject of exactly one
//     stream, EnvelopeSubject(id) on EnvelopeStream(Partition(id)); its
//     escrow likewise on EscrowSubject(id) of LedgerStream(Partition(id)).
//  3. EnvelopeFilter and LedgerFilter select every subject of their
//     streams and nothing else this package names.
//  4. A Topology's names never change while a deployment lives: they are
//     where its money is.
package topology
