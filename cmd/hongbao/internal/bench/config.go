package bench

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"
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
	// ConfigFile is the embedded server's configuration, as serve reads
	// it (nats.conf); empty means the built-in defaults equal to the
	// repository's nats.conf. Its store_dir and listeners are replaced (a
	// temporary directory, in-process connections only) and its
	// sync_interval by Sync.
	ConfigFile string
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
	case c.NATSURL != "" && c.ConfigFile != "":
		return bad("config is for the embedded server: not with a NATS URL")
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

func (c *Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return c.Logger
}
