// Package api owns the wire contract of hongbao's client API, version 1
// (design/api.md): how request bodies and subjects are decoded, the shapes of
// the replies, and the error codes a failed request answers with.
//
// It is pure Go and knows nothing of NATS: the service layer takes a subject
// and a body from a NATS micro request, calls the decoders here, and sends
// back either a reply struct from this package or an *Error (its Status in
// the Nats-Service-Error-Code header, its Message in Nats-Service-Error, and
// Error.Body as the body).
//
// Invariants this package keeps:
//
//  1. Bad input never reaches the aggregate: every malformed request is a
//     400 with a machine code (bad_request, invalid_amount, invalid_count,
//     invalid_id). Every decoder and subject parser returns either a request
//     that satisfies all the rules documented on its type, or an *Error with
//     Status 400; it never panics.
//  2. Decoding is strict and implemented once (decodeObject): the body is at
//     most MaxBody bytes of valid UTF-8 holding exactly one JSON object; field
//     names match exactly (case-sensitive), each at most once; unknown fields,
//     wrong JSON types, missing required fields, a null for a required field
//     and trailing data are all bad_request.
//  3. Money and counts are integers: amount and count fields accept only a
//     JSON integer literal (no fraction, no exponent, no string) that fits in
//     int64; anything else is never rounded or coerced.
//  4. An identifier taken from a subject is a single canonical token: an
//     envelope id is a canonical upper-case ULID and a user matches
//     [A-Za-z0-9_-]{1,64}, so neither can smuggle '.', '*', '>' or
//     whitespace into a subject the service builds from it.
//
// Business limits (count <= 100, shares between 1 and 20000 fen, divisibility
// of equal envelopes) are configurable and are checked by the aggregate, not
// here: this package only guarantees well-formed, positive values.
package api
