// Package tickets issues and verifies the signed tickets of shake
// campaigns: a shake hands the user a compact token that binds campaign,
// ticket index and user, and an open verifies it locally, with no store
// read (seed 004: "在本地生成一个跟用户绑定的加密票据 … 通过本地计算即可验证").
//
// A token is base64url (no padding) of
//
//	version (1 byte, 1) ‖ key id (4 bytes) ‖ uvarint(index), minimal ‖ signature (64 bytes)
//
// 70 to 74 bytes, 94 to 99 characters. The signature is ed25519 over
//
//	"hongbao/ticket/v1" ‖ version ‖ key id ‖ campaign id (16 bytes) ‖ uvarint(index) ‖ user
//
// so campaign and user are bound without being carried: the open request
// names both (the subject and the body), and a token shown with another
// user or campaign fails to verify. The key id is the first 4 bytes of
// SHA-256 of the public key.
//
// Keys are nkeys server keys (seed "SN…", public "N…"): the service's own
// identity, of the same tooling as the deployment's other keys, but of a
// type no NATS user or account credential has, so no connection credential
// can double as a ticket key. A Keyring signs with one active key and
// verifies with all it holds: rotate by making a new key active and keeping
// the old ones (seed or public key only) until the campaigns they signed
// have ended. An auditor holds public keys only (NewVerifier) and checks
// any ticket_opened event's token against its campaign, index and user.
//
// Invariants:
//
//  1. Verify never panics, on any input, and accepts exactly the tokens
//     Issue makes (no malleability: strict base64, minimal uvarint, and
//     ed25519's canonical signatures), so a verified token re-issued with
//     its key is the same string (FuzzVerify checks it).
//  2. Every failure is ErrInvalidTicket (wrapped with the reason).
package tickets
