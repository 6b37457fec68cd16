// Package natstest provides test helpers backed by real, in-process NATS
// JetStream servers. There are no mocks: every test talks to nats-server.
//
// It is a thin layer over package embedded, which builds the options (the
// built-in nats.conf defaults), starts the server and waits until it is
// ready, as it does for `hongbao serve` and `hongbao bench`; natstest adds
// what tests need: a t.TempDir() store, t.Cleanup, restarts and
// connections that survive them.
//
// [Start] runs a JetStream server on a t.TempDir() store with
// sync_interval "always" (the production setting, see nats.conf), no TCP
// listener unless [WithListen] is given, no logs and no signal handlers.
// The server is shut down when the test ends.
//
//	srv := natstest.Start(t)
//	js := srv.JetStream(t)
//	// ... create streams, publish ...
//	srv.Restart(t) // crash-free restart on the same store directory
//
// # Restarts, outages and reconnection
//
// [Server.Restart] shuts the server down and starts a new one on the same
// store directory with the same options; [Server.Shutdown] alone simulates
// an outage that a later Restart ends.
//
// Connections made with [Server.Conn] (and [Server.JetStream]) survive
// restarts: they reconnect on their own (unlimited attempts, 50ms apart)
// once the new server is up. This works although they are in-process
// connections: a plain nats.InProcessServer(srv.NATS()) connection is tied
// to one *server.Server, whose InProcessConn fails for good once it is shut
// down, so it could never reconnect. Conn instead installs a
// nats.CustomDialer whose Dial asks whichever server is current for a new
// in-process pipe. Use [Eventually] to wait for the reconnection, for
// example until nc.IsConnected() and nc.Stats().Reconnects > 0.
//
// A restart is graceful (the old server is shut down cleanly); it does not
// simulate power loss.
//
// With [WithListen] the server also listens on 127.0.0.1 on a random port,
// for external processes and CLI tests; the port is kept across restarts,
// so [Server.URL] stays valid and TCP clients reconnect too.
//
// With [WithAuth] the server runs in operator mode with credentials
// generated in a temporary auth directory, as `hongbao serve` does:
// [Server.Conn] authenticates as the service, [Server.ConnAs] with any
// credentials file of [Server.Auth], and [Server.Connect] returns the
// error of a refused connection.
//
// Helpers fail the test through t.Fatalf with messages starting
// "natstest: "; like t.Fatalf they must be called from the test goroutine.
package natstest
