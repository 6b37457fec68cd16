// Package projector owns the machinery every hongbao read model shares: a
// Pebble database fed from the ENVELOPES stream by an ordered consumer that
// starts after the database's checkpoint.
//
// Invariants this package keeps (I6 rests on them):
//
//  1. Exactly-once application. The events of a batch and the checkpoint
//     (the stream sequence of the batch's last event) are written in one
//     Pebble batch committed with Sync. After a crash the database holds
//     either the whole batch and its checkpoint or neither, and the
//     consumer resumes after the checkpoint: no event is applied twice or
//     skipped.
//  2. Order. Events are applied in stream order; the ordered consumer
//     recreates itself on gaps, and a sequence at or below the checkpoint
//     is refused (ErrOutOfOrder).
//  3. Loud failure. An event that does not decode or does not apply stops
//     the projector with the error; it is never skipped.
//  4. Applied() only ever reports a sequence whose batch is durable, so
//     WaitFor(seq) (read-your-writes) never answers from unsynced data.
package projector
