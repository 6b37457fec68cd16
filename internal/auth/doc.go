// Package auth makes the NATS credentials of a hongbao deployment and puts
// an in-process nats-server into operator mode with them, so that the
// server itself — not the service — refuses what a role may not do
// (api.md, "Who may do what"; docs/security.md).
//
// It owns the auth directory (<data>/auth): an operator nkey, three
// accounts and three users, as nkey seeds, JWTs and credentials files,
// all mode 0600 in a 0700 directory.
//
//   - Account SYS: the system account.
//   - Account HONGBAO (service): JetStream enabled; holds the streams
//     (envelope.>, ledger.>) and the KV buckets; exports the contract's
//     request subjects (see [ServiceSubjects]) as services.
//   - Account CLIENTS: no JetStream; imports those services and nothing else.
//   - User service (HONGBAO, unrestricted): the hongbao instances.
//   - User operator (HONGBAO, allow-list): admin endpoints, micro
//     discovery, read-only JetStream; never appends, purges or deletes.
//   - User client (CLIENTS, allow-list): requests of the contract and their
//     replies.
//
// Threat model in brief: a client credential is assumed to leak (it sits on
// every app back end). With it an attacker can make contract requests —
// what any app back end can — and see replies addressed to _INBOX.> of the
// clients account; the server refuses everything else: publishing or
// reading events, JetStream and KV API, $SYS, admin endpoints. An operator
// credential reads everything and can call admin endpoints but cannot
// append, alter or delete events. The service credential and the seeds are
// the keys to the kingdom and never leave the host. The package does not
// defend against a compromised host, nor does it limit request rates
// (risk controls are planned separately).
//
// Use:
//
//	d, err := auth.Ensure(filepath.Join(dataDir, "auth"), "hongbao")
//	...
//	err = d.ConfigureServer(opts) // before server.NewServer(opts)
//
// Errors wrap one of the package's sentinel errors (ErrIncomplete,
// ErrInvalid, ErrInsecure, ErrLegacyStore) where one applies.
package auth
