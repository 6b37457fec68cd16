// Package embedded runs the NATS server in-process for `hongbao serve`.
//
// The server is configured from a nats.conf file (the repository's nats.conf
// is the reference) or, when no file is given, from built-in defaults equal
// to that file: JetStream enabled with sync_interval "always", so that every
// acknowledged publish has been fsynced to disk. Money streams depend on
// that; see the comments in nats.conf.
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
