// Package projector owns the machinery every hongbao read model shares: a
// Pebble database fed from the ENVELOPES stream by an ordered consumer that
// starts after the database's checkpoint.
//
// Projections read and write rows through a Tx, the batch being built:
// Get and Set for rows of any type, GetRaw and SetRaw for rows stored as
// they are. A row type is stored in its own compact binary form when it
// implements RowCodec (detail, users), as JSON otherwise; GetRow and
// IterRow read either way for queries. The Tx keeps every row it has read or written decoded until
// the batch is committed, so a row that many events of a batch change
// (a summary, a user's totals) is decoded at most once and encoded once
// per batch. Row types may implement JSONAppender to be encoded without
// reflection (byte for byte as json.Marshal; rowtest checks it).
//
// A projector is a pipeline (see consume): one goroutine reads the
// messages and decodes the events, one applies them to the Tx, one encodes
// each finished batch with its checkpoint and applies it to the database,
// and one syncs the WAL, at most once per Config.SyncInterval, and then
// publishes the last checkpoint it covers.
// Applying the next batch overlaps committing this one and waiting for the
// disk; the Tx serves the rows of the batch being committed until they are
// in the database.
//
// Invariants this package keeps (I6 rests on them):
//
//  1. Exactly-once application. The rows of a batch's events and the
//     checkpoint (the stream sequence of the batch's last event) are
//     written in one Pebble batch; batches are applied one at a time, in
//     order, and the WAL is written and synced in order (one sync at most
//     every Config.SyncInterval covers the batches applied since the last
//     one). After a
//     crash the database holds whole batches up to some checkpoint, each
//     with its checkpoint, and nothing after it; the consumer resumes
//     after the checkpoint: no event is applied twice or skipped.
//  2. Order. Events are applied in stream order; the ordered consumer
//     recreates itself on gaps, and a sequence at or below the last one
//     read (or the checkpoint) is refused (ErrOutOfOrder).
//  3. Parking, not stopping. An event that does not decode, does not
//     verify, or that the projection's fold refuses is parked: recorded
//     under ParkedPrefix (subject, sequence, kind, reason) in the same
//     Pebble batch as the checkpoint that passes it, so it is parked
//     exactly once, and the events after it are applied: one bad message
//     never freezes a view. An event whose apply failed half-way leaves
//     none of its rows: the batch's rows are dropped and its earlier events
//     applied again before the event is parked (should that fail, the
//     projector consumes again from the checkpoint and parks it then). Parked
//     lists them, ParkedCount counts them; reconcile and ops status report
//     them. What is the database's or the code's fault (a row that does not
//     read, a row used as two types) still stops the projector, as does a
//     batch whose WAL sync fails (its rows are visible already: resuming
//     would apply its events twice).
//  4. Applied() only ever reports a sequence whose batch is durable (its
//     WAL sync done), so WaitFor(seq) (read-your-writes) never answers from
//     data a crash could take back. Syncs are paced, so it may wait up to
//     one SyncInterval longer than the batch took to apply.
//
// Formats. A projection may give its rows a format version (Versioned;
// 1 otherwise). New records it in an empty database (FormatKey) and refuses
// a database in another format with ErrFormat: its rows are rebuilt from
// the stream, never misread (projections.Open starts the next generation).
//
// The one exception is a bulk load (OpenBulk, Config.Bulk), which a rebuild
// uses to fill a new generation that nothing reads yet: no WAL, batches
// applied without Sync, Applied() meaning visible. Seal flushes its
// memtables to synced tables before the generation is reopened with a WAL
// and served; a crash before Seal leaves a generation that is thrown away.
package projector
