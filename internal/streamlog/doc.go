// Package streamlog is hongbao's append log on JetStream: a stream of
// per-key subjects, where each subject is the serializer of one key's
// messages. The envelope store (eventstore, on ENVELOPES) and the ledger
// (on LEDGER) are both built on it; it knows nothing of what their
// messages mean, nor of which stream or subjects they use (topology names
// those).
//
// Invariants this package keeps:
//
//  1. Appends are conditional: every message carries
//     Nats-Expected-Last-Subject-Sequence, the subject's last stream
//     sequence the caller decided on. A mismatch is ErrConflict (JetStream
//     codes 10071, or 10164 on replicated streams, matched by code, never by
//     text); nothing is written.
//  2. An append is written at most once. Each append carries a Nats-Msg-Id
//     unique to it; when a retry after a lost acknowledgement meets a
//     conflict, the log reads the subject's first message after the
//     expected sequence, and if it carries this Msg-Id the append had
//     succeeded and its sequence is returned.
//  3. A successful Append returns only after JetStream acknowledged the
//     message (with sync_interval: always, after fsync). An unknown outcome
//     is ErrUnavailable, never success: the caller must reload.
//  4. Retries of an unknown outcome back off exponentially with jitter,
//     within the caller's context; conflicts are never retried here: the
//     caller reloads and decides again, at most MaxAttempts times in all.
//  5. AppendBatch writes several messages of one subject as one JetStream
//     atomic batch: all of them, contiguous, right after the expected
//     sequence (carried by the first), or none; a retry after a lost
//     acknowledgement is resolved by the first and last Msg-Ids (as 2).
//  6. A Group appends the appends of different subjects that wait at the
//     same time as one atomic batch, each message with its own expected
//     sequence and Msg-Id, so each append keeps 1–3. A refused batch wrote
//     nothing and its members are appended one by one.
package streamlog
