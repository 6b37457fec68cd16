// Package bench is `hongbao bench`: it drives a real hongbao service over
// NATS request/reply from many concurrent clients and, in the same run and
// on the same server and durability settings, measures the machine's
// ceilings, so that every figure is also a ratio. Machines are noisy;
// ratios travel.
//
// By default [Run] starts, in a temporary directory, an embedded
// nats-server configured as `hongbao serve` configures it (package
// embedded: [Config.ConfigFile], nats.conf, or the built-in defaults equal
// to it) with no listener and the fsync policy [Config.Sync] in place of
// the file's sync_interval ("always" unless [SyncDefault]), and an
// in-process instance (package app) on a connection of its own; the
// clients share another connection. With [Config.NATSURL] it targets a
// hongbao service already running behind that server instead.
//
// Files: config.go (what a run measures), run.go (the run and its
// phases), server.go (the server and instance under test), load.go (the
// clients, tallies and load loops), scenarios.go, ceilings.go,
// preload.go, rebuild.go (the phases), report.go, histogram.go,
// resources.go (what is reported), wire.go. Every request to the service
// and to the request/reply ceilings goes through the service's Go client
// (package client, load.go's newClient), which encodes the bodies and
// decodes the replies without allocating on the hot path; the ceilings run
// through the same client, so the ratios compare like with like.
//
// Scenarios (each with exact expected outcomes, checked):
//
//   - spread: opens spread round-robin over many envelopes (wrapped and
//     paid in an unmeasured setup), each by a distinct user, from
//     [Config.Clients] clients. Opens/s.
//   - grab: read-only grabs on live envelopes, same clients. Grabs/s.
//   - wrap: wrap + pay pairs, same clients. Pairs/s.
//   - hot: one envelope of [Config.HotCount] shares and [Config.HotOpeners]
//     distinct openers published all at once. The burst's wall time, and
//     exactly HotCount opened (sharing the whole total), the rest
//     exhausted, no errors.
//   - rebuild (last; the embedded full instance only): when the scenarios
//     before left ENVELOPES with fewer than [Config.RebuildEvents] events,
//     envelopes are wrapped, paid and fully opened through the service
//     first; then, once every read model has applied its stream's last
//     event and the dispatcher has delivered the outbox, each projection
//     is rebuilt from its whole stream into a new generation and swapped
//     in (projections.Set.Rebuild). Events/s: the stream's last sequence
//     over the call's time, one result per projection (rebuild_detail,
//     rebuild_users, rebuild_outbox from ENVELOPES; rebuild_wallets from
//     LEDGER).
//
// Ceilings:
//
//   - transport: a no-op request/reply responder (a plain subscription on
//     its own connection answering a fixed 71-byte body) driven like
//     spread: same clients, same request bodies and subject sizes.
//   - transport_burst: the hot burst against the no-op responder.
//   - storage: raw JetStream async publishes, [Config.StoragePend] in
//     flight, each to a subject of its own in the file stream BENCH_RAW
//     with Nats-Expected-Last-Subject-Sequence 0, until every ack is in:
//     the conditional append every open makes, without the service.
//   - store_reply: spread's requests, from the same clients, answered by a
//     responder that only does an open's I/O: one conditional JetStream
//     publish with a Msg-Id per request (asynchronous; one goroutine
//     awaits the acks in order), then the reply. The floor under any service that stores an open before
//     answering; its stream BENCH_SR must hold one message per answer.
//   - read, read_ledger: the whole ENVELOPES (LEDGER) stream through an
//     ordered consumer with the projector's filter and pull size, nothing
//     decoded.
//
// Ratios: spread/transport, spread/storage, spread/store_reply,
// grab/transport, the hot
// burst's time over the no-op burst's, and each rebuild over the read of
// its stream (x-read).
//
// [Config.Preload] first publishes that many paid envelopes (Wrapped and
// Paid decided by the aggregate) straight into ENVELOPES, with async
// publishes, and waits for the read models and the dispatcher: the
// scenarios then run against a bigger store. The report gives the
// process's heap (server, service and clients share one process) and the
// store directory's size after the setup and at the end.
//
// Every loop is bounded by its count and by [Config.Timeout]; every request
// by [Config.RequestTimeout]. Latencies are recorded into pre-sized slices
// (no allocation on the hot path) and the percentiles are exact.
//
// All errors returned by this package start with "bench: ".
package bench
