// Package embedded is the project's one way to run nats-server in-process
// and to connect to NATS: `hongbao serve`, `hongbao bench`, the offline
// tools (reconcile, audit, status, rebuild over --data) and, through
// package natstest, the tests all start their servers here.
//
// [Options] builds the server options, [StartOptions] starts a server from
// them and waits until it accepts connections with JetStream; [Start] does
// both. [Server.Connect] connects in-process (also with DontListen);
// [Dial] connects to a NATS server by URL (--nats-url).
//
// The server is configured from a nats.conf file (the repository's nats.conf
// is the reference) or, when no file is given, from built-in defaults equal
// to that file: JetStream enabled with sync_interval "always", so that every
// acknowledged publish has been fsynced to disk. Money streams depend on
// that; see the comments in nats.conf. [Config] overrides the store
// directory, the listen address, the listeners altogether (DontListen) and
// the fsync policy ([Sync]; the bench measures both policies on one
// configuration).
//
// With [Config.AuthDir] (`hongbao serve` passes <data>/auth) the server
// runs in operator mode with the deployment's credentials (package
// internal/auth, docs/security.md): generated on the first start, loaded
// afterwards; anonymous connections are refused; [Server.Connect]
// authenticates as the service and [Server.Auth] tells where the client,
// operator and service credentials are. [ConfigureAuth] and [StartAuth] do
// the same for options built with [Options] (package natstest).
// [MigrateLegacyStore] moves the streams of a data directory written
// before authentication to the service account (`hongbao auth migrate`).
// Without AuthDir (tests, by default) there is no authentication.
//
// The process owns signal handling, so the embedded server never installs
// signal handlers. Server logs are forwarded to a [log/slog.Logger].
//
// A minimal use:
//
//	srv, err := embedded.Start(ctx, embedded.Config{ConfigFile: "nats.conf"})
//	if err != nil {
//		return err
//	}
//	defer srv.Shutdown()
//	nc, err := srv.Connect()
//
// All errors returned by this package start with "embedded: ".
package embedded
