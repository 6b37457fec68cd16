// Package eventstore owns the stream of envelope events (ENVELOPES, as
// topology names it): one subject per envelope, envelope.<id>, so the
// stream is the serializer of each envelope's events. It encodes and
// decodes events and appends them through the generic append log of
// internal/streamlog, which the ledger uses too; invariants 1–3, 6 and 7
// are that log's, held for envelope events.
//
// Invariants this package keeps:
//
//  1. Appends are conditional: every event carries
//     Nats-Expected-Last-Subject-Sequence, the stream sequence of the
//     envelope's last event the caller decided on. A mismatch is ErrConflict
//     (JetStream codes 10071, or 10164 on replicated streams, matched by
//     code, never by text); nothing is written.
//  2. An append is written at most once. Each append carries a Nats-Msg-Id
//     unique to that decision; when a retry after a lost acknowledgement
//     meets a conflict, the store reads the envelope's first message after
//     the expected sequence, and if it carries this Msg-Id the append had
//     succeeded and its sequence is returned.
//  3. A successful Append returns only after JetStream acknowledged the
//     message (with sync_interval: always, after fsync). An unknown outcome
//     is ErrUnavailable, never success: the caller must reload.
//  4. Load returns an envelope's events in stream order, decoded strictly;
//     a malformed event is an error (events.ErrMalformed), not skipped.
//  5. The stream denies deletes and purges: money history is append-only.
//  6. AppendBatch writes several events of one envelope as one JetStream
//     atomic batch: all of them, contiguous, right after the expected
//     sequence (carried by the first), or none. Each has its own Msg-Id; a
//     retry after a lost acknowledgement is resolved by finding the first
//     and the last of them where they must be (2 as for one).
//  7. With GroupCommit, appends of different envelopes that wait at the
//     same time go as one atomic batch, each message with its own expected
//     sequence and Msg-Id, so each append keeps 1–3. A refused batch wrote
//     nothing and its members are appended one by one (a conflict fails
//     only its own append); after a lost acknowledgement each member is
//     resolved by its Msg-Id.
package eventstore
