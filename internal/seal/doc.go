// Package seal makes hongbao's stored events tamper-evident beyond access
// control (issue 12, item 6): every message the service appends to an
// envelope or escrow subject carries, in NATS headers (the event JSON is
// unchanged, so existing streams stay readable and the fast decoders keep
// working):
//
//   - Hongbao-Prev: the hex SHA-256 link to the previous message on the
//     same subject (Hash of its data and seal headers), empty for the first:
//     a hash chain per envelope and per escrow;
//   - Hongbao-Key: the public nkey of the instance that wrote it;
//   - Hongbao-Sig: its ed25519 signature, base64url, over
//     "hongbao-seal-v1" ‖ subject ‖ prev ‖ data.
//
// An event written around the service (with the service's NATS rights but
// without an instance's private key) cannot carry a valid signature by a
// trusted key; a signed event replayed or moved breaks its subject's chain.
// Verify checks one message's key and signature (what the read models and
// the aggregates' loads check); Chain checks a subject's messages in order,
// links included (what reconcile and audit check).
//
// Keys. Each instance has a key pair (LoadOrCreate: an nkey seed, mode 0600,
// under the data directory) and registers its public key at start in the
// keys bucket (topology.KeysBucket; Register): the trusted keys are that
// bucket's keys, which the operator can list (Trusted) but not write.
//
// Legacy streams. Messages stored before signing began have no seal
// headers. The first instance that signs records, once per stream, the
// stream sequence signing starts at (Register: "signed-from.<stream>").
// An unsigned message before that sequence is accepted as legacy; at or
// after it, it is reported as forged. A stream with no marker has never been signed
// (a deployment without keys): nothing is required of it.
//
// Cost: ed25519 signing is paid per message appended (measured in
// internal/streamlog's BenchmarkAppend; see docs/security.md).
package seal
