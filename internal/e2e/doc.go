// Package e2e holds end-to-end tests of a whole hongbao (internal/testenv:
// the real service, projections, dispatcher and ledger on an embedded
// nats-server) as deployed by `hongbao serve`: behind the credentials
// internal/auth generates, with NATS itself refusing what a role may not
// do (api.md, "Who may do what"; docs/security.md).
//
// The tests named Test…Permission… prove each refusal of issue 12 with the
// generated client, operator and service credentials: a client reaches the
// contract through the clients account's imports and nothing else (no
// events, streams, buckets, JetStream API or admin endpoints); an operator
// runs status, rebuild, verify, reconcile and audit but cannot append or
// alter; an anonymous connection is refused. TestServePermissionFreshDataDir
// assembles an instance as `hongbao serve` does (embedded.Config.AuthDir,
// internal/app). internal/auth tests the same
// permissions against a stand-in service; these use the real one.
//
// Requests to the contract go through the typed client (package client),
// as an app's would: client.Connect with client.creds over TCP, or
// client.New on Env.NC. TestAPIDocsMatchServiceAndClient holds the
// endpoint table of docs/api.md, the service's $SRV.INFO and the methods
// of *client.Client to the same list.
//
// The package has no non-test code.
package e2e
