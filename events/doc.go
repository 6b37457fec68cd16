// Package events owns the facts of an envelope's life as they are stored in
// the ENVELOPES stream: Wrapped, Paid, Cancelled, Opened and Expired.
//
// Every event is one JSON document with a type, a schema version, the
// envelope id, the time it was decided and a typed payload:
//
//	{"type":"opened","v":1,"envelope_id":"01J…","at":"2026-…Z","data":{…}}
//
// Invariants this package keeps:
//
//  1. Amounts are int64 fen; no float ever carries money.
//  2. Decoding is strict: an unknown type, an unknown version, an unknown
//     field, a missing payload or trailing bytes is an error (ErrUnknownType,
//     ErrMalformed), never a panic and never a silently empty event.
//  3. Encode(Decode(b)) is stable: an event re-encoded from its decoded form
//     decodes to the same value, so auditors can replay the stream.
//
// The package knows nothing of NATS: the stream sequence of an event is
// carried beside it in a Record.
package events
