package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/internal/app"
	"github.com/hongbao/hongbao/service"
)

// Scenario names, in the order they run.
const (
	ScenarioSpread = "spread"
	ScenarioGrab   = "grab"
	ScenarioWrap   = "wrap"
	ScenarioHot    = "hot"
	// ScenarioRebuild rebuilds every read model from its stream; it needs
	// the embedded full instance and runs last.
	ScenarioRebuild = "rebuild"
)

// Ceiling names.
const (
	CeilingTransport      = "transport"
	CeilingTransportBurst = "transport_burst"
	CeilingStorage        = "storage"
	CeilingStoreReply     = "store_reply" // a responder that appends to JetStream, then replies
	CeilingRead           = "read"        // a plain ordered-consumer read of ENVELOPES
	CeilingReadLedger     = "read_ledger" // the same of LEDGER
)

// Sync modes of the embedded server.
const (
	SyncAlways  = "always"  // fsync before every acknowledgement (nats.conf, production)
	SyncDefault = "default" // JetStream's default: fsync in the background every 2 minutes
)

// AllScenarios lists every scenario in run order.
var AllScenarios = []string{ScenarioSpread, ScenarioGrab, ScenarioWrap, ScenarioHot, ScenarioRebuild}

// ErrConfig is wrapped by every error of [Config.Validate] and
// [ParseScenarios].
var ErrConfig = errors.New("bench: invalid configuration")

// Config of one benchmark run. Start from [DefaultConfig].
type Config struct {
	// NATSURL targets a running hongbao service through this NATS server.
	// Empty: start an embedded server and service in a temporary directory.
	NATSURL string
	Creds   string // credentials file for NATSURL
	Prefix  string // subject prefix of the service ("hongbao")
	// Sync is the embedded server's JetStream fsync policy, SyncAlways or
	// SyncDefault. It must be empty with NATSURL: that server's setting
	// is what it is.
	Sync string
	// Dir is where the temporary store directory is made (the disk under
	// test); empty means the system's temporary directory.
	Dir string
	// CoreOnly runs the embedded service without its read models and
	// dispatcher. By default the whole instance runs, as `hongbao serve`
	// runs it, so every open also feeds the projections and the ledger.
	CoreOnly bool
	// GroupCommit is the embedded service's group commit: "auto" (the
	// default: on with SyncAlways), "on" or "off".
	GroupCommit string

	Scenarios []string // subset of AllScenarios
	Clients   int      // concurrent clients of spread, grab, wrap and transport

	Envelopes    int // spread: envelopes wrapped and paid in setup
	Opens        int // spread: opens, spread round-robin over the envelopes
	Count, Total int // spread, grab and wrap envelopes: shares and fen
	HotCount     int // hot: shares of the one envelope
	HotOpeners   int // hot and transport_burst: requests fired at once
	// HotRounds: hot and transport_burst run this many times, alternately,
	// each hot round on a fresh envelope; the round with the median ratio
	// is reported (a burst takes tens of milliseconds: one GC moves it).
	HotRounds     int
	Grabs         int // grab: grabs
	GrabEnvelopes int // grab: live envelopes grabbed round-robin
	Wraps         int // wrap: wrap + pay pairs
	TransportOps  int // transport: requests (0: as many as Opens)
	StorageMsgs   int // storage: JetStream publishes
	StoragePend   int // storage: async publishes in flight
	StorageSize   int // storage: message size in bytes
	// RebuildEvents is how many events ENVELOPES holds at least when the
	// rebuild scenario measures: when the scenarios before it left fewer,
	// it first wraps, pays and opens envelopes through the service.
	RebuildEvents int
	// Preload envelopes (Wrapped and Paid, decided by the aggregate) are
	// published straight into ENVELOPES before any setup, and the read
	// models and the dispatcher are waited for: the store a scenario then
	// runs against is that much bigger. Embedded only.
	Preload int
	// Notes say what the run left out and why (see SelectScenarios).
	Notes []string

	RequestTimeout time.Duration // per request (and per burst after its last send)
	Timeout        time.Duration // the whole run

	// Progress receives one line per second per running phase; nil for
	// none. With ProgressInPlace the line is rewritten with \r (a
	// terminal). ProgressInterval defaults to 1s.
	Progress         io.Writer
	ProgressInPlace  bool
	ProgressInterval time.Duration
	// Logger receives the embedded service's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults of `hongbao bench`.
func DefaultConfig() Config {
	return Config{
		Prefix:         "hongbao",
		Sync:           SyncAlways,
		Scenarios:      slices.Clone(AllScenarios),
		Clients:        64,
		Envelopes:      2_000,
		Opens:          20_000,
		Count:          10,
		Total:          1_000,
		HotCount:       100,
		HotOpeners:     10_000,
		HotRounds:      5,
		GroupCommit:    "auto",
		Grabs:          20_000,
		GrabEnvelopes:  100,
		Wraps:          2_000,
		StorageMsgs:    20_000,
		StoragePend:    256,
		StorageSize:    200,
		RebuildEvents:  20_000,
		RequestTimeout: 30 * time.Second,
		Timeout:        5 * time.Minute,
	}
}

// ParseScenarios parses a comma-separated list of scenario names; "all"
// selects every scenario.
func ParseScenarios(s string) ([]string, error) {
	want := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "all":
			for _, n := range AllScenarios {
				want[n] = true
			}
		case slices.Contains(AllScenarios, name):
			want[name] = true
		default:
			return nil, fmt.Errorf("%w: unknown scenario %q (want %s or all)", ErrConfig, name, strings.Join(AllScenarios, ", "))
		}
	}
	var out []string
	for _, n := range AllScenarios {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

// Validate reports the first unusable setting.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	switch {
	case c.NATSURL == "" && c.Sync != SyncAlways && c.Sync != SyncDefault:
		return bad("sync %q: want %s or %s", c.Sync, SyncAlways, SyncDefault)
	case c.NATSURL != "" && c.Sync != "":
		return bad("sync is the setting of the server at %s, not of the benchmark", c.NATSURL)
	case c.Prefix == "" || strings.ContainsAny(c.Prefix, " *>"):
		return bad("prefix %q", c.Prefix)
	case len(c.Scenarios) == 0:
		return bad("no scenario")
	case c.Clients < 1 || c.Clients > 10_000:
		return bad("clients %d: want 1 to 10,000", c.Clients)
	case c.Count < 1 || c.Total < c.Count:
		return bad("count %d, total %d: want count >= 1 and total >= count", c.Count, c.Total)
	case c.HotCount < 1:
		return bad("hot count %d: want >= 1", c.HotCount)
	case c.GroupCommit != "" && c.GroupCommit != "auto" && c.GroupCommit != "on" && c.GroupCommit != "off":
		return bad("group commit %q: want auto, on or off", c.GroupCommit)
	case c.HotRounds < 1 || c.HotRounds > 100:
		return bad("hot rounds %d: want 1 to 100", c.HotRounds)
	case c.Timeout <= 0 || c.RequestTimeout <= 0:
		return bad("timeouts must be positive")
	case c.StoragePend < 1:
		return bad("storage in flight %d: want >= 1", c.StoragePend)
	case c.StorageSize < 1:
		return bad("storage message size %d: want >= 1", c.StorageSize)
	case c.has(ScenarioRebuild) && c.NATSURL != "":
		return bad("scenario rebuild rebuilds the embedded instance's read models: not with a NATS URL")
	case c.has(ScenarioRebuild) && c.CoreOnly:
		return bad("scenario rebuild needs the read models: not with core-only")
	case c.Preload > 0 && c.NATSURL != "":
		return bad("preload writes straight into the embedded server's stream: not with a NATS URL")
	}
	for _, s := range c.Scenarios {
		if !slices.Contains(AllScenarios, s) {
			return bad("unknown scenario %q", s)
		}
	}
	const most = 10_000_000
	for _, n := range []struct {
		name string
		v    int
	}{
		{"envelopes", c.Envelopes}, {"opens", c.Opens}, {"hot openers", c.HotOpeners}, {"grabs", c.Grabs},
		{"grab envelopes", c.GrabEnvelopes}, {"wraps", c.Wraps}, {"storage messages", c.StorageMsgs},
		{"rebuild events", c.RebuildEvents},
	} {
		if n.v < 1 || n.v > most {
			return bad("%s %d: want 1 to %d", n.name, n.v, most)
		}
	}
	if c.TransportOps < 0 || c.TransportOps > most {
		return bad("transport requests %d: want 0 (as many as opens) to %d", c.TransportOps, most)
	}
	if c.Preload < 0 || c.Preload > most {
		return bad("preload %d: want 0 to %d", c.Preload, most)
	}
	return nil
}

func (c *Config) has(scenario string) bool { return slices.Contains(c.Scenarios, scenario) }

// fullEmbedded reports whether the run has the embedded full instance (its
// read models and dispatcher), which rebuild needs.
func (c *Config) fullEmbedded() bool { return c.NATSURL == "" && !c.CoreOnly }

// SelectScenarios sets c.Scenarios from a comma-separated list, parsed as
// by ParseScenarios. A scenario this configuration cannot run (rebuild
// without the embedded full instance: with CoreOnly or NATSURL) is dropped
// when only "all" selected it, with a note in c.Notes; named explicitly,
// it stays and Validate refuses it. Set NATSURL and CoreOnly first.
func (c *Config) SelectScenarios(s string) error {
	list, err := ParseScenarios(s)
	if err != nil {
		return err
	}
	explicit := false
	for _, name := range strings.Split(s, ",") {
		explicit = explicit || strings.TrimSpace(name) == ScenarioRebuild
	}
	if !explicit && !c.fullEmbedded() && slices.Contains(list, ScenarioRebuild) {
		list = slices.DeleteFunc(list, func(n string) bool { return n == ScenarioRebuild })
		c.Notes = append(c.Notes, "rebuild skipped: it rebuilds the embedded full instance's read models (not with core-only or a NATS URL)")
	}
	c.Scenarios = list
	return nil
}

// Run runs the selected scenarios and the ceilings they are compared with,
// all against one server, and returns the report. On a failure it returns
// the error together with a report of the phases that completed.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TransportOps == 0 {
		cfg.TransportOps = cfg.Opens
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	r := &runner{cfg: cfg, runID: newRunID(), prog: &progress{w: cfg.Progress, inPlace: cfg.ProgressInPlace, every: cfg.ProgressInterval}}
	r.rep = newReport(&r.cfg, r.runID)
	env, err := startEnv(ctx, &r.cfg)
	if err != nil {
		return nil, err
	}
	r.env = env
	r.rep.Settings.fromEnv(env)
	defer func() {
		if cerr := env.close(); cerr != nil {
			cfg.logger().Warn("bench: shutdown", "err", cerr)
		}
	}()
	if r.nc, err = env.connect("hongbao-bench-clients"); err != nil {
		return nil, err
	}

	err = r.run(ctx)
	r.rep.Resources.End = r.footprint(ctx)
	r.rep.computeRatios()
	if err != nil && ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("bench: timed out after %s: %w", cfg.Timeout, err)
	}
	return r.rep, err
}

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}

// runner holds one run's connection, set-up envelopes and report.
type runner struct {
	cfg   Config
	runID string // makes request ids, users and subjects unique to the run
	env   *env
	nc    *nats.Conn          // the clients' connection; never the service's
	js    jetstream.JetStream // on nc, made by clientJS
	prog  *progress
	rep   *Report

	spreadIDs, grabIDs []string
	hotID              string   // the envelope of the hot round running
	hotIDs             []string // one per round
	noop               *noopResponder
}

// run runs the phases: every setup first (not measured), then the
// ceilings and the scenarios each is compared with.
func (r *runner) run(ctx context.Context) error {
	c := &r.cfg
	var err error
	if c.Preload > 0 {
		if err := r.preload(ctx); err != nil {
			return err
		}
	}
	if c.has(ScenarioSpread) {
		if r.spreadIDs, r.rep.setup[ScenarioSpread], err = r.setupEnvelopes(ctx, "spread setup", "s", c.Envelopes, c.Count); err != nil {
			return err
		}
	}
	if c.has(ScenarioGrab) {
		if r.grabIDs, r.rep.setup[ScenarioGrab], err = r.setupEnvelopes(ctx, "grab setup", "g", c.GrabEnvelopes, c.Count); err != nil {
			return err
		}
	}
	if c.has(ScenarioHot) {
		if r.hotIDs, r.rep.setup[ScenarioHot], err = r.setupEnvelopes(ctx, "hot setup", "h", c.HotRounds, c.HotCount); err != nil {
			return err
		}
	}
	r.rep.Resources.AfterSetup = r.footprint(ctx)

	needTransport := c.has(ScenarioSpread) || c.has(ScenarioGrab)
	if needTransport || c.has(ScenarioHot) {
		if r.noop, err = startNoop(r.env, r.runID); err != nil {
			return err
		}
		defer r.noop.close()
	}
	if needTransport {
		if err := r.add(ctx, r.transport, false); err != nil {
			return err
		}
	}
	if c.has(ScenarioSpread) {
		if err := r.add(ctx, r.storage, false); err != nil {
			return err
		}
		if err := r.add(ctx, r.storeReply, false); err != nil {
			return err
		}
		if err := r.add(ctx, r.spread, true); err != nil {
			return err
		}
	}
	if c.has(ScenarioGrab) {
		if err := r.add(ctx, r.grab, true); err != nil {
			return err
		}
	}
	if c.has(ScenarioWrap) {
		if err := r.add(ctx, r.wrap, true); err != nil {
			return err
		}
	}
	if c.has(ScenarioHot) {
		if err := r.hotRounds(ctx); err != nil {
			return err
		}
	}
	if c.has(ScenarioRebuild) {
		if err := r.rebuild(ctx); err != nil {
			return err
		}
	}
	return nil
}

// hotRounds runs the no-op burst and the hot burst HotRounds times,
// alternately, and files the pair of the round whose ratio is the median;
// every round's ratio goes into the report.
func (r *runner) hotRounds(ctx context.Context) error {
	type round struct {
		burst, hot *Result
		ratio      float64
	}
	var rounds []round
	for _, id := range r.hotIDs {
		r.hotID = id
		burst, err := r.transportBurst(ctx)
		if err != nil || burst == nil || !burst.Correct {
			if burst != nil {
				r.rep.Ceilings[burst.Name] = burst
			}
			return err
		}
		hot, err := r.hot(ctx)
		if hot != nil {
			hot.SetupSeconds = r.rep.setup[hot.Name]
		}
		if err != nil || hot == nil || !hot.Correct {
			// A wrong or failed round is the one to show.
			r.rep.Ceilings[burst.Name] = burst
			if hot != nil {
				r.rep.Scenarios[hot.Name] = hot
			}
			return err
		}
		rounds = append(rounds, round{burst, hot, hot.Seconds / max(burst.Seconds, 1e-9)})
	}
	slices.SortFunc(rounds, func(a, b round) int { return cmp.Compare(a.ratio, b.ratio) })
	for _, rd := range rounds {
		r.rep.HotRatios = append(r.rep.HotRatios, rd.ratio)
	}
	mid := rounds[len(rounds)/2]
	r.rep.Ceilings[mid.burst.Name] = mid.burst
	r.rep.Scenarios[mid.hot.Name] = mid.hot
	return nil
}

// add runs one measured phase and files its result.
func (r *runner) add(ctx context.Context, phase func(context.Context) (*Result, error), scenario bool) error {
	res, err := phase(ctx)
	if res != nil {
		if scenario {
			res.SetupSeconds = r.rep.setup[res.Name]
			r.rep.Scenarios[res.Name] = res
		} else {
			r.rep.Ceilings[res.Name] = res
		}
	}
	return err
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// env is the server and service under test.
type env struct {
	cfg *Config
	ns  *server.Server // nil with NATSURL
	dir string         // temporary store directory, removed at close

	app     *app.App
	svcConn *nats.Conn

	connsMu sync.Mutex
	conns   []*nats.Conn
}

// startEnv starts the embedded server and service, or checks that the
// server at NATSURL is reachable.
func startEnv(ctx context.Context, cfg *Config) (_ *env, err error) {
	e := &env{cfg: cfg}
	defer func() {
		if err != nil {
			_ = e.close()
		}
	}()
	if cfg.NATSURL != "" {
		return e, nil
	}
	if e.dir, err = os.MkdirTemp(cfg.Dir, "hongbao-bench-*"); err != nil {
		return nil, fmt.Errorf("bench: store directory: %w", err)
	}
	opts := &server.Options{
		ServerName: "hongbao-bench",
		JetStream:  true,
		StoreDir:   e.dir,
		DontListen: true,
		NoLog:      true,
		NoSigs:     true,
		SyncAlways: cfg.Sync == SyncAlways,
		// SyncDefault leaves SyncInterval 0: nats-server's own default (2m).
	}
	if e.ns, err = server.NewServer(opts); err != nil {
		return nil, fmt.Errorf("bench: nats-server: %w", err)
	}
	e.ns.Start()
	if !e.ns.ReadyForConnections(10 * time.Second) {
		return nil, errors.New("bench: nats-server not ready for connections after 10s")
	}
	if !e.ns.JetStreamEnabled() {
		return nil, errors.New("bench: nats-server started without JetStream")
	}
	if e.svcConn, err = e.connect("hongbao"); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(e.dir, "data")
	if cfg.CoreOnly {
		dataDir = ""
	}
	svcCfg := service.Config{Prefix: cfg.Prefix}
	// Group commit pays where JetStream fsyncs every message.
	svcCfg.Store.GroupCommit = e.groupCommit()
	e.app, err = app.Start(ctx, e.svcConn, app.Config{Service: svcCfg, DataDir: dataDir, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	return e, nil
}

// groupCommit is whether the embedded service commits appends in groups.
func (e *env) groupCommit() bool {
	c := e.cfg
	return c.GroupCommit == "on" || (c.GroupCommit != "off" && c.Sync == SyncAlways)
}

// connect opens a new connection to the server under test; it is closed
// by close.
func (e *env) connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1)}
	url := e.cfg.NATSURL
	if e.ns != nil {
		url = ""
		opts = append(opts, nats.InProcessServer(e.ns))
	} else if e.cfg.Creds != "" {
		opts = append(opts, nats.UserCredentials(e.cfg.Creds))
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("bench: connect %s: %w", redactURL(url), err)
	}
	e.connsMu.Lock()
	e.conns = append(e.conns, nc)
	e.connsMu.Unlock()
	return nc, nil
}

// close stops the service, closes every connection, shuts the server down
// and removes its store.
func (e *env) close() error {
	var err error
	if e.app != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		err = e.app.Stop(ctx)
		cancel()
		e.app = nil
	}
	e.connsMu.Lock()
	for _, nc := range e.conns {
		nc.Close()
	}
	e.conns = nil
	e.connsMu.Unlock()
	if e.ns != nil {
		e.ns.Shutdown()
		e.ns.WaitForShutdown()
		e.ns = nil
	}
	if e.dir != "" {
		err = errors.Join(err, os.RemoveAll(e.dir))
		e.dir = ""
	}
	return err
}

// syncSetting reports the embedded server's fsync policy.
func (e *env) syncSetting() (always bool, interval time.Duration, ok bool) {
	if e.ns == nil {
		return false, 0, false
	}
	c := e.ns.JetStreamConfig()
	if c == nil {
		return false, 0, false
	}
	return c.SyncAlways, c.SyncInterval, true
}

// redactURL hides passwords and tokens in a NATS URL list.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			u.User = url.User("xxx")
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// --- drivers ---

// tally counts one client's outcomes and failures; merged after a phase.
type tally struct {
	outcomes  map[string]int64 // reply statuses (or states)
	codes     map[string]int64 // contract error codes
	transport map[string]int64 // transport failures: timeout, no_responders, other
	amount    int64            // sum of opened amounts
	firstErr  string
}

func newTally() tally {
	return tally{outcomes: map[string]int64{}, codes: map[string]int64{}, transport: map[string]int64{}}
}

func (t *tally) merge(o *tally) {
	for k, v := range o.outcomes {
		t.outcomes[k] += v
	}
	for k, v := range o.codes {
		t.codes[k] += v
	}
	for k, v := range o.transport {
		t.transport[k] += v
	}
	t.amount += o.amount
	if t.firstErr == "" {
		t.firstErr = o.firstErr
	}
}

func (t *tally) noteErr(format string, args ...any) {
	if t.firstErr == "" {
		t.firstErr = fmt.Sprintf(format, args...)
	}
}

// transportErr records a request that got no reply.
func (t *tally) transportErr(subject string, err error) {
	kind := "other"
	switch {
	case errors.Is(err, nats.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		kind = "timeout"
	case errors.Is(err, nats.ErrNoResponders):
		kind = "no_responders"
	}
	t.transport[kind]++
	t.noteErr("%s: %v", subject, err)
}

// reply classifies a reply: a contract error (recorded, ok false) or a
// success whose status it returns (empty when the body has none).
func (t *tally) reply(subject string, m *nats.Msg) (status []byte, ok bool) {
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" { // no responders, as nats.go detects it
		t.transportErr(subject, nats.ErrNoResponders)
		return nil, false
	}
	if code := m.Header.Get(micro.ErrorCodeHeader); code != "" {
		c := string(jsonString(m.Data, "code"))
		if c == "" {
			c = "status_" + code
		}
		t.codes[c]++
		t.noteErr("%s: %s %s", subject, code, m.Data)
		return nil, false
	}
	return jsonString(m.Data, "status"), true
}

// client is one concurrent client: a request message and a body buffer
// reused for every request, and its own tally.
type client struct {
	nc      *nats.Conn
	timeout time.Duration
	msg     nats.Msg
	buf     []byte
	tally
}

// request sends one request and waits for its reply; a transport failure
// is recorded and returns nil.
func (c *client) request(subject string, body []byte) *nats.Msg {
	c.msg.Subject, c.msg.Data = subject, body
	m, err := c.nc.RequestMsg(&c.msg, c.timeout)
	if err != nil {
		c.transportErr(subject, err)
		return nil
	}
	return m
}

// drive runs ops 0..n-1 from cfg.Clients concurrent clients on the clients'
// connection; op reports whether it was answered (its latency counts).
// It returns when every op is done or ctx is.
func (r *runner) drive(ctx context.Context, name, unit string, n int, op func(c *client, i int) bool) (*Result, error) {
	ph := r.prog.begin(name, unit, n)
	h := newHistogram(n)
	clients := min(r.cfg.Clients, n)
	tallies := make([]tally, clients)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Go(func() {
			c := &client{nc: r.nc, timeout: r.cfg.RequestTimeout, buf: make([]byte, 0, 256), tally: newTally()}
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					break
				}
				t0 := time.Now()
				if op(c, i) {
					h.record(time.Since(t0))
				}
				ph.done.Add(1)
			}
			tallies[w] = c.tally
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	ph.end()
	t := newTally()
	for i := range tallies {
		t.merge(&tallies[i])
	}
	res := newResult(name, unit, clients, ph.done.Load(), elapsed, &t, h)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("bench: %s: %d of %d %s done: %w", name, ph.done.Load(), n, unit, err)
	}
	return res, nil
}

// burst publishes n requests at once (all sent before any reply is
// awaited) with replies to one wildcard inbox, and waits for every reply or
// until RequestTimeout after the last send. Messages are built before the
// clock starts.
func (r *runner) burst(ctx context.Context, name, unit string, n int, subject func(i int) string, body func(i int) []byte,
	onReply func(t *tally, status []byte, m *nats.Msg)) (*Result, error) {
	inbox := r.nc.NewInbox()
	msgs := make([]nats.Msg, n)
	for i := range msgs {
		msgs[i] = nats.Msg{Subject: subject(i), Reply: inbox + "." + itoa(i), Data: body(i)}
	}
	sent := make([]atomic.Int64, n)
	got := make([]atomic.Bool, n)
	h := newHistogram(n)
	ph := r.prog.begin(name, unit, n)

	var mu sync.Mutex // guards t, h and last: Unsubscribe does not wait for a running handler
	t := newTally()
	var last time.Time
	all := make(chan struct{})
	var left atomic.Int64
	left.Store(int64(n))
	sub, err := r.nc.Subscribe(inbox+".*", func(m *nats.Msg) {
		now := time.Now()
		i, ok := atoi(m.Subject[len(inbox)+1:])
		if !ok || i >= n || got[i].Swap(true) {
			return // not ours, or a duplicate
		}
		mu.Lock()
		h.record(now.Sub(time.Unix(0, sent[i].Load())))
		if status, ok := t.reply(msgs[i].Subject, m); ok {
			onReply(&t, status, m)
		}
		last = now
		mu.Unlock()
		ph.done.Add(1)
		if left.Add(-1) == 0 {
			close(all)
		}
	})
	if err != nil {
		ph.end()
		return nil, fmt.Errorf("bench: %s: subscribe: %w", name, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// Replies of a burst arrive faster than the handler may take them.
	_ = sub.SetPendingLimits(-1, -1)
	if err := r.nc.Flush(); err != nil {
		ph.end()
		return nil, fmt.Errorf("bench: %s: flush: %w", name, err)
	}

	start := time.Now()
	for i := range msgs {
		sent[i].Store(time.Now().UnixNano())
		if err := r.nc.PublishMsg(&msgs[i]); err != nil {
			mu.Lock()
			t.transportErr(msgs[i].Subject, err)
			mu.Unlock()
			got[i].Store(true)
			ph.done.Add(1)
			if left.Add(-1) == 0 {
				close(all)
			}
		}
	}
	_ = r.nc.Flush()
	wait := time.NewTimer(r.cfg.RequestTimeout)
	defer wait.Stop()
	var cerr error
	select {
	case <-all:
	case <-wait.C:
	case <-ctx.Done():
		cerr = ctx.Err()
	}
	_ = sub.Unsubscribe()
	ph.end()

	mu.Lock()
	defer mu.Unlock()
	if missing := left.Load(); missing > 0 {
		t.transport["timeout"] += missing
		t.noteErr("%s: %d requests of the burst unanswered after %s", name, missing, r.cfg.RequestTimeout)
	}
	elapsed := last.Sub(start)
	if last.IsZero() {
		elapsed = time.Since(start)
	}
	res := newResult(name, unit, n, int64(n), elapsed, &t, h)
	if cerr != nil {
		return res, fmt.Errorf("bench: %s: %w", name, cerr)
	}
	return res, nil
}

// --- small allocation-free helpers ---

// jsonString returns the string value of "key" in a flat JSON object as
// encoding/json writes it (no spaces), or nil. It does not unescape.
func jsonString(b []byte, key string) []byte {
	i := fieldStart(b, key)
	if i < 0 || i >= len(b) || b[i] != '"' {
		return nil
	}
	i++
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '\\':
			return nil // escaped strings are not statuses or codes
		case '"':
			return b[i:j]
		}
	}
	return nil
}

// jsonInt returns the integer value of "key", as jsonString.
func jsonInt(b []byte, key string) (int64, bool) {
	i := fieldStart(b, key)
	if i < 0 {
		return 0, false
	}
	var v int64
	j := i
	for ; j < len(b) && b[j] >= '0' && b[j] <= '9'; j++ {
		v = v*10 + int64(b[j]-'0')
	}
	return v, j > i
}

// fieldStart returns the index just after `"key":` in b, or -1.
func fieldStart(b []byte, key string) int {
	for i := 0; i+len(key)+3 <= len(b); i++ {
		if b[i] == '"' && string(b[i+1:i+1+len(key)]) == key && b[i+1+len(key)] == '"' && b[i+2+len(key)] == ':' {
			return i + len(key) + 3
		}
	}
	return -1
}

func itoa(i int) string { return strconv.Itoa(i) }

// atoi parses a non-negative decimal int.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

// appendUserBody appends {"user":"<prefix><i>"}.
func appendUserBody(b []byte, prefix string, i int) []byte {
	b = append(b, `{"user":"`...)
	b = append(b, prefix...)
	b = appendInt(b, int64(i))
	return append(b, `"}`...)
}

func appendInt(b []byte, v int64) []byte {
	if v < 0 {
		b = append(b, '-')
		v = -v
	}
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}
