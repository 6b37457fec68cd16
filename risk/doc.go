// Package risk is hongbao's risk control (风控, seed 003): operators block
// and unblock users and senders, and per-user and per-sender rate limits
// guard wrap, open and shake.
//
// Blocklist. Blocked names live in the key-value bucket of
// topology.RiskBucket (one key per name: users and senders share one name
// space, [A-Za-z0-9_-]). Every instance watches the bucket and keeps the
// list in memory as an immutable map behind an atomic pointer, so the check
// on the request path is one atomic load and one map lookup, and never a KV
// read. Operators cannot write KV (their NATS permissions deny $KV.>): they
// block and unblock through the admin endpoints <prefix>.admin.risk.block,
// .unblock and .list, which any instance answers (one queue group, unlike
// the per-instance <prefix>.admin.<id>.<verb> of package ops); Block,
// Unblock and List are the client calls. The instance that answers a block
// waits until its own watch has seen the write, so a request it serves next
// is refused; other instances follow within the watch's delivery time.
//
// Rate limits. Each limited verb has a Limit: at most N requests in a
// window per name, as a GCRA token bucket (one int64 per name: its
// theoretical arrival time). A request over the limit is 429 rate_limited
// with retry_after_ms, the time until it would be admitted. Limits are kept
// in memory per instance, not globally: with N instances serving the same
// user round robin the effective limit is N times the configured one.
// Memory is bounded: at most MaxTracked names per verb (a few MB for the
// default 100,000). Each of 64 shards keeps two generations of names; when
// the current one is full the older is dropped whole. Forgetting a name
// can only admit more, never refuse wrongly, and a name idle for a whole
// window is the same as a name never seen.
//
// Cost on the request path (BenchmarkRiskCheck, 2 shared cores): the
// blocklist lookup about 15-30 ns; with a limit, 100,000 users churning,
// about 0.4 µs, against some 25 µs for an open's round trip
// (BenchmarkOpenFromMemory in package service). A nil *Guard checks
// nothing.
package risk
