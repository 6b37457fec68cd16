package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/service"
)

// syncBuffer is a bytes.Buffer safe for the progress goroutines and the
// test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// tiny is a configuration small enough for -race on two cores.
func tiny(t *testing.T) Config {
	c := DefaultConfig()
	c.Dir = t.TempDir()
	c.Clients = 8
	c.Envelopes, c.Opens = 50, 200
	c.HotCount, c.HotOpeners, c.HotRounds = 10, 200, 1
	c.Grabs, c.GrabEnvelopes = 200, 10
	c.Wraps = 50
	c.StorageMsgs, c.StoragePend = 200, 32
	c.RebuildEvents = 300
	c.Timeout = time.Minute
	c.ProgressInterval = 5 * time.Millisecond
	return c
}

func run(t *testing.T, c Config) *Report {
	t.Helper()
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// checkResult asserts what holds for every phase: all done, no errors,
// the exact outcome, a rate, ordered percentiles.
func checkResult(t *testing.T, res *Result, count int64) {
	t.Helper()
	if res == nil {
		t.Fatalf("missing result")
	}
	if res.Count != count || res.Errors != 0 || !res.Correct {
		t.Fatalf("%s: count %d (want %d), errors %d (%v %v, first %q), correct %v (want %s, got %v)",
			res.Name, res.Count, count, res.Errors, res.ErrorsByCode, res.TransportErrors, res.FirstError, res.Correct, res.Expect, res.Outcomes)
	}
	if res.PerSecond <= 0 || res.Seconds <= 0 {
		t.Fatalf("%s: %f/s over %fs", res.Name, res.PerSecond, res.Seconds)
	}
	l := res.Latency
	if l.Count != count || !(0 < l.P50 || l.P50 == 0) || !(l.P50 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) || l.Max <= 0 {
		t.Fatalf("%s: latency %+v", res.Name, l)
	}
}

func TestRunAll(t *testing.T) {
	c := tiny(t)
	// Rebuild, which waits for the dispatcher (one fsync per transfer at
	// sync always), runs in TestRebuild and TestPreload.
	c.Scenarios = []string{ScenarioSpread, ScenarioGrab, ScenarioWrap, ScenarioHot}
	var progress syncBuffer
	c.Progress = &progress
	rep := run(t, c)

	checkResult(t, rep.Scenarios[ScenarioSpread], 200)
	checkResult(t, rep.Scenarios[ScenarioGrab], 200)
	checkResult(t, rep.Scenarios[ScenarioWrap], 50)
	checkResult(t, rep.Scenarios[ScenarioHot], 200)
	checkResult(t, rep.Ceilings[CeilingTransport], 200)
	checkResult(t, rep.Ceilings[CeilingTransportBurst], 200)
	checkResult(t, rep.Ceilings[CeilingStorage], 200)
	checkResult(t, rep.Ceilings[CeilingStoreReply], 200) // as many as spread's opens
	if r := rep.Ratios.SpreadOverStoreReply; r == nil || *r <= 0 {
		t.Errorf("spread / store_reply %v", r)
	}
	if rep.Rebuild != nil || rep.Preload != nil || rep.Ceilings[CeilingRead] != nil {
		t.Errorf("rebuild %+v, preload %+v ran", rep.Rebuild, rep.Preload)
	}

	// 50 envelopes of 10 shares, 200 opens round-robin: 4 each, all open.
	sp := rep.Scenarios[ScenarioSpread]
	if sp.Outcomes["opened"] != 200 || sp.SetupSeconds <= 0 {
		t.Errorf("spread outcomes %v, setup %fs", sp.Outcomes, sp.SetupSeconds)
	}
	hot := rep.Scenarios[ScenarioHot]
	if hot.Outcomes["opened"] != 10 || hot.Outcomes["exhausted"] != 190 || hot.tally.amount != 1000 {
		t.Errorf("hot outcomes %v, %d fen", hot.Outcomes, hot.tally.amount)
	}
	if g := rep.Scenarios[ScenarioGrab]; g.Outcomes["can_open"] != 200 {
		t.Errorf("grab outcomes %v", g.Outcomes)
	}
	if !rep.AllCorrect() {
		t.Error("AllCorrect is false")
	}
	if s := rep.Settings; s.SyncAlways == nil || !*s.SyncAlways || s.Sync != SyncAlways || s.GOMAXPROCS < 1 || s.GoVersion == "" {
		t.Errorf("settings %+v", s)
	}

	// JSON: one document, every ratio present and a number.
	var out bytes.Buffer
	if err := rep.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	dec := json.NewDecoder(&out)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if dec.More() {
		t.Fatal("more than one JSON document")
	}
	ratios, _ := doc["ratios"].(map[string]any)
	for _, k := range []string{"spread_over_transport", "spread_over_storage", "grab_over_transport", "hot_burst_time_over_transport_burst_time"} {
		if v, ok := ratios[k].(float64); !ok || v <= 0 {
			t.Errorf("ratio %s = %v", k, ratios[k])
		}
	}
	if v, ok := ratios["rebuild_over_read"]; !ok || v != nil {
		t.Errorf("rebuild_over_read = %v, want null", v)
	}
	for _, k := range []string{"settings", "scenarios", "ceilings", "seconds", "rebuild", "preload", "resources"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON without %s", k)
		}
	}
	hotDoc := doc["scenarios"].(map[string]any)["hot"].(map[string]any)
	if hotDoc["correct"] != true {
		t.Errorf("hot correct = %v", hotDoc["correct"])
	}

	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"spread", "grab", "wrap", "hot", "transport_burst", "storage", "spread / storage", "hot / transport_burst", "correct",
		"heap in use", "after setup"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table without %q:\n%s", want, table.String())
		}
	}
	if strings.Contains(table.String(), "WRONG") {
		t.Errorf("table reports a wrong outcome:\n%s", table.String())
	}
	// Every phase ends with a final progress line.
	for _, want := range []string{"spread setup: 50/50 envelopes in", "spread: 200/200 opens in", "hot: 200/200 opens in", "storage: 200/200 msgs in"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress without %q:\n%s", want, progress.String())
		}
	}
}

// TestSyncDefaultAndFewOpeners runs hot alone on a server configured by
// the repository's nats.conf (sync_interval: always) with --sync default,
// which replaces the file's policy by JetStream's default, with fewer
// openers than shares: all open, none exhausted, and only the ceiling hot
// needs runs.
func TestSyncDefaultAndFewOpeners(t *testing.T) {
	c := tiny(t)
	c.Sync = SyncDefault
	c.ConfigFile = "../../../../nats.conf"
	c.Scenarios = []string{ScenarioHot}
	c.HotCount, c.HotOpeners, c.HotRounds = 20, 15, 3
	rep := run(t, c)
	if r := rep.HotRatios; len(r) != 3 || !slices.IsSorted(r) || *rep.Ratios.HotBurstOverTransportBurst != r[1] {
		t.Errorf("hot rounds: ratios %v, reported %v", r, *rep.Ratios.HotBurstOverTransportBurst)
	}
	hot := rep.Scenarios[ScenarioHot]
	checkResult(t, hot, 15)
	if hot.Outcomes["opened"] != 15 || hot.Outcomes["exhausted"] != 0 {
		t.Errorf("hot outcomes %v", hot.Outcomes)
	}
	if s := rep.Settings; s.SyncAlways == nil || *s.SyncAlways || s.SyncInterval != "2m0s" {
		t.Errorf("sync settings %v %q", s.SyncAlways, s.SyncInterval)
	}
	checkResult(t, rep.Ceilings[CeilingTransportBurst], 15)
	if rep.Ceilings[CeilingTransport] != nil || rep.Ceilings[CeilingStorage] != nil {
		t.Error("ceilings ran that no scenario needs")
	}
	if r := rep.Ratios; r.HotBurstOverTransportBurst == nil || r.SpreadOverTransport != nil || r.SpreadOverStorage != nil || r.GrabOverTransport != nil {
		t.Errorf("ratios %+v", r)
	}
	var out bytes.Buffer
	if err := rep.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Ratios map[string]any `json:"ratios"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if _, ok := doc.Ratios["rebuild_over_read"]; len(doc.Ratios) != 6 || doc.Ratios["spread_over_transport"] != nil || !ok || doc.Ratios["rebuild_over_read"] != nil {
		t.Errorf("ratios in JSON %v: want all 6 keys, null when not measured", doc.Ratios)
	}
}

// TestNATSURL targets a service running on a server of its own over TCP,
// and leaves no BENCH_RAW stream behind.
func TestNATSURL(t *testing.T) {
	srv := natstest.Start(t, natstest.WithListen())
	ctx := context.Background()
	svc, err := service.New(ctx, srv.Conn(t), service.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
	})

	c := tiny(t)
	c.NATSURL, c.Sync = srv.URL(), ""
	c.Scenarios = []string{ScenarioSpread, ScenarioWrap}
	c.Envelopes, c.Opens, c.Count = 20, 100, 3 // 5 opens each: 3 open, 2 find it exhausted
	rep := run(t, c)
	sp := rep.Scenarios[ScenarioSpread]
	checkResult(t, sp, 100)
	if sp.Outcomes["opened"] != 60 || sp.Outcomes["exhausted"] != 40 || sp.tally.amount != 20*1000 {
		t.Errorf("spread outcomes %v, %d fen", sp.Outcomes, sp.tally.amount)
	}
	checkResult(t, rep.Scenarios[ScenarioWrap], 50)
	checkResult(t, rep.Ceilings[CeilingStorage], 200)
	checkResult(t, rep.Ceilings[CeilingStoreReply], 100)
	if rep.Settings.Target != srv.URL() || rep.Settings.Sync != "server" || rep.Settings.SyncAlways != nil {
		t.Errorf("settings %+v", rep.Settings)
	}

	js := srv.JetStream(t)
	if _, err := js.Stream(ctx, StorageStream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("%s after the run: %v", StorageStream, err)
	}
	// An existing BENCH_RAW is not the benchmark's to delete.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: StorageStream, Subjects: []string{"bench.>"}}); err != nil {
		t.Fatal(err)
	}
	c.Scenarios = []string{ScenarioSpread}
	if _, err := Run(ctx, c); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("Run with an existing %s: %v", StorageStream, err)
	}
	if _, err := js.Stream(ctx, StorageStream); err != nil {
		t.Fatalf("the existing %s was touched: %v", StorageStream, err)
	}
}

// TestNoService: without a service behind the URL the setup fails at once
// with no_responders, and says so.
func TestNoService(t *testing.T) {
	srv := natstest.Start(t, natstest.WithListen())
	c := tiny(t)
	c.NATSURL, c.Sync = srv.URL(), ""
	c.Scenarios = []string{ScenarioHot}
	_, err := Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "no responders") {
		t.Fatalf("Run without a service: %v", err)
	}
}

// TestTimeout: the run is bounded by Timeout.
func TestTimeout(t *testing.T) {
	c := tiny(t)
	c.Scenarios = []string{ScenarioWrap}
	c.Wraps = 1_000_000
	c.Timeout = 2 * time.Second // well past the start of the instance, even under -race on a busy machine
	start := time.Now()
	rep, err := Run(context.Background(), c)
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Run: %v", err)
	}
	if rep == nil || rep.Scenarios[ScenarioWrap] == nil || rep.Scenarios[ScenarioWrap].Count >= 1_000_000 {
		t.Fatalf("want a partial wrap result, got %+v", rep)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Fatalf("a 2s run took %s", el)
	}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"sync", func(c *Config) { c.Sync = "sometimes" }},
		{"sync with url", func(c *Config) { c.NATSURL = "nats://127.0.0.1:1" }},
		{"config with url", func(c *Config) { c.NATSURL, c.Sync, c.ConfigFile = "nats://127.0.0.1:1", "", "nats.conf" }},
		{"clients", func(c *Config) { c.Clients = 0 }},
		{"count", func(c *Config) { c.Count, c.Total = 10, 5 }},
		{"opens", func(c *Config) { c.Opens = 0 }},
		{"scenario", func(c *Config) { c.Scenarios = []string{"lunch"} }},
		{"no scenario", func(c *Config) { c.Scenarios = nil }},
		{"timeout", func(c *Config) { c.Timeout = 0 }},
		{"prefix", func(c *Config) { c.Prefix = "a.>" }},
		{"rebuild events", func(c *Config) { c.RebuildEvents = 0 }},
		{"negative preload", func(c *Config) { c.Preload = -1 }},
		{"rebuild core-only", func(c *Config) { c.CoreOnly = true }},
		{"rebuild with url", func(c *Config) { c.NATSURL, c.Sync = "nats://127.0.0.1:1", "" }},
		{"preload with url", func(c *Config) {
			c.NATSURL, c.Sync, c.Scenarios, c.Preload = "nats://127.0.0.1:1", "", []string{ScenarioSpread}, 10
		}},
	}
	for _, tc := range cases {
		c := DefaultConfig()
		tc.edit(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate = %v", tc.name, err)
		}
	}
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestParseScenarios(t *testing.T) {
	for in, want := range map[string]string{
		"all":         "spread,grab,wrap,hot,rebuild",
		"hot":         "hot",
		"hot, spread": "spread,hot",
		"wrap,all":    "spread,grab,wrap,hot,rebuild",
		"rebuild,hot": "hot,rebuild",
	} {
		got, err := ParseScenarios(in)
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("ParseScenarios(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := ParseScenarios("spread,nope"); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown scenario: %v", err)
	}
}

// TestSelectScenarios: "all" leaves rebuild out, with a note, where it
// cannot run; named there, it is a configuration error.
func TestSelectScenarios(t *testing.T) {
	c := DefaultConfig()
	if err := c.SelectScenarios("all"); err != nil || strings.Join(c.Scenarios, ",") != "spread,grab,wrap,hot,rebuild" || len(c.Notes) != 0 {
		t.Fatalf("full instance: %v %v %v", c.Scenarios, c.Notes, err)
	}
	for _, edit := range []func(*Config){
		func(c *Config) { c.CoreOnly = true },
		func(c *Config) { c.NATSURL, c.Sync = "nats://127.0.0.1:1", "" },
	} {
		c := DefaultConfig()
		edit(&c)
		if err := c.SelectScenarios("all"); err != nil || strings.Join(c.Scenarios, ",") != "spread,grab,wrap,hot" || len(c.Notes) != 1 {
			t.Fatalf("all: %v %v %v", c.Scenarios, c.Notes, err)
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("all without rebuild: %v", err)
		}
		c.Notes = nil
		if err := c.SelectScenarios("hot,rebuild"); err != nil || strings.Join(c.Scenarios, ",") != "hot,rebuild" || len(c.Notes) != 0 {
			t.Fatalf("named: %v %v %v", c.Scenarios, c.Notes, err)
		}
		if err := c.Validate(); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "rebuild") {
			t.Fatalf("rebuild named without the full instance: Validate = %v", err)
		}
		if _, err := Run(context.Background(), c); !errors.Is(err, ErrConfig) {
			t.Fatalf("Run: %v", err)
		}
	}
	if err := c.SelectScenarios("spread,lunch"); !errors.Is(err, ErrConfig) {
		t.Errorf("unknown scenario: %v", err)
	}
}

// checkRebuild asserts the rebuild scenario's results: a read of each
// stream and a rebuild of each projection, all of it, correct, with its
// x-read ratio.
func checkRebuild(t *testing.T, rep *Report, events, ledgerEvents int64) {
	t.Helper()
	for name, want := range map[string]int64{CeilingRead: events, CeilingReadLedger: ledgerEvents} {
		res := rep.Ceilings[name]
		if res == nil || res.Count != want || res.Errors != 0 || !res.Correct || res.PerSecond <= 0 || res.Unit != "events" {
			t.Fatalf("%s: %+v, want %d events", name, res, want)
		}
	}
	for _, name := range projections.Names {
		want := events
		if name == "wallets" {
			want = ledgerEvents
		}
		res := rep.Scenarios[rebuildPrefix+name]
		if res == nil || res.Count != want || res.Errors != 0 || !res.Correct || res.PerSecond <= 0 {
			t.Fatalf("rebuild %s: %+v, want %d events", name, res, want)
		}
		if x, ok := rep.Ratios.RebuildOverRead[name]; !ok || x <= 0 {
			t.Errorf("x-read of %s: %v %v", name, x, ok)
		}
	}
	if rep.Rebuild.Events != uint64(events) || rep.Rebuild.LedgerEvents != uint64(ledgerEvents) {
		t.Errorf("rebuild report %+v", rep.Rebuild)
	}
}

// TestRebuild runs rebuild alone: the stream is topped up through the
// service to at least 120 events (10 envelopes of 10 shares, every share
// opened: 12 events each), then every projection is rebuilt.
func TestRebuild(t *testing.T) {
	c := tiny(t)
	c.Scenarios = []string{ScenarioRebuild}
	c.RebuildEvents = 120
	c.Sync = SyncDefault // the setup and the dispatcher fsync nothing: quicker
	var progress syncBuffer
	c.Progress = &progress
	rep := run(t, c)

	rb := rep.Rebuild
	if rb == nil || rb.SetupEnvelopes != 10 || rb.SetupSeconds <= 0 {
		t.Fatalf("rebuild report %+v", rb)
	}
	// ENVELOPES: 10 × (wrapped, paid, 10 opened). LEDGER: 10 funds and 100 opens.
	checkRebuild(t, rep, 120, 110)
	if !rep.AllCorrect() {
		t.Error("AllCorrect is false")
	}
	for _, f := range []*Footprint{rep.Resources.AfterSetup, rep.Resources.End} {
		if f == nil || f.HeapInuseMiB <= 0 || f.StoreMiB == nil || *f.StoreMiB <= 0 || f.ProjectionsMiB == nil || *f.ProjectionsMiB <= 0 {
			t.Fatalf("footprint %+v", f)
		}
	}
	if got := rep.Resources.End.StreamEvents["ENVELOPES"]; got != 120 {
		t.Errorf("ENVELOPES at the end: %d", got)
	}
	if rep.Preload != nil || len(rep.Scenarios) != len(projections.Names) || len(rep.Ceilings) != 2 {
		t.Errorf("preload %+v, scenarios %v, ceilings %v", rep.Preload, sortedKeys(rep.Scenarios), sortedKeys(rep.Ceilings))
	}
	for _, want := range []string{"rebuild setup: 10/10 envelopes in", "rebuild setup opens: 100/100 opens in", "rebuild catch-up: ", "read: 120/120 events in",
		"rebuild_detail: 120/120 events in", "rebuild_outbox: 120/120 events in", "read_ledger: 110/110 events in", "rebuild_wallets: 110/110 events in"} {
		if !strings.Contains(progress.String(), want) {
			t.Errorf("progress without %q:\n%s", want, progress.String())
		}
	}

	var out bytes.Buffer
	if err := rep.WriteJSON(&out); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Ratios struct {
			XRead map[string]float64 `json:"rebuild_over_read"`
		} `json:"ratios"`
		Rebuild struct {
			Events uint64 `json:"events"`
		} `json:"rebuild"`
		Resources struct {
			End struct {
				Heap  float64 `json:"heap_inuse_mib"`
				Store float64 `json:"store_mib"`
			} `json:"end"`
		} `json:"resources"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Ratios.XRead) != len(projections.Names) || doc.Rebuild.Events != 120 || doc.Resources.End.Heap <= 0 || doc.Resources.End.Store <= 0 {
		t.Errorf("JSON: %+v", doc)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"rebuild_users / read", "rebuild_wallets / read_ledger", "10 envelopes wrapped, paid and opened", "store"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table without %q:\n%s", want, table.String())
		}
	}
}

// TestPreload: 200 preloaded envelopes are 400 more events in ENVELOPES
// before the setup, and the instance catches up with them; rebuild then
// finds enough events (RebuildEvents 300) and sets nothing up. Core-only,
// there is nothing to catch up.
func TestPreload(t *testing.T) {
	c := tiny(t)
	c.Scenarios = []string{ScenarioHot, ScenarioRebuild}
	c.HotCount, c.HotOpeners = 10, 50
	c.Preload = 200
	c.Sync = SyncDefault // the dispatcher's 200 fund transfers fsync nothing: quicker
	var progress syncBuffer
	c.Progress = &progress
	rep := run(t, c)

	p := rep.Preload
	if p == nil || p.Envelopes != 200 || p.Events != 400 || p.StreamEvents != 400 || p.Errors != 0 || p.Seconds <= 0 || p.CatchUpSeconds == nil {
		t.Fatalf("preload %+v", p)
	}
	checkResult(t, rep.Scenarios[ScenarioHot], 50)
	// After the setup: the preload and the hot envelope's wrapped and
	// paid; at the end also its 10 opens.
	if got := rep.Resources.AfterSetup.StreamEvents["ENVELOPES"]; got != 402 {
		t.Errorf("ENVELOPES after setup: %d", got)
	}
	if got := rep.Resources.End.StreamEvents["ENVELOPES"]; got != 412 {
		t.Errorf("ENVELOPES at the end: %d", got)
	}
	// Rebuild waited for everything: 200+1 funds and 10 opens in LEDGER.
	if rb := rep.Rebuild; rb == nil || rb.SetupEnvelopes != 0 || rb.SetupSeconds != 0 {
		t.Fatalf("rebuild report %+v", rb)
	}
	checkRebuild(t, rep, 412, 211)
	// The dispatcher funded every preloaded escrow before the setup.
	if got := rep.Resources.AfterSetup.StreamEvents["LEDGER"]; got < 200 {
		t.Errorf("LEDGER after setup: %d", got)
	}
	if rep.Settings.Preload != 200 {
		t.Errorf("settings preload %d", rep.Settings.Preload)
	}
	if !strings.Contains(progress.String(), "preload: 400/400 events in") || !strings.Contains(progress.String(), "preload catch-up: ") {
		t.Errorf("progress:\n%s", progress.String())
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "preload: 200 envelopes, 400 events") {
		t.Errorf("table:\n%s", table.String())
	}

	c = tiny(t)
	c.Scenarios, c.CoreOnly, c.Preload, c.Sync = []string{ScenarioHot}, true, 20, SyncDefault
	c.HotCount, c.HotOpeners = 10, 20
	rep = run(t, c)
	if p := rep.Preload; p == nil || p.Events != 40 || p.CatchUpSeconds != nil {
		t.Fatalf("core-only preload %+v", p)
	}
	if f := rep.Resources.End; f == nil || f.ProjectionsMiB == nil || *f.ProjectionsMiB != 0 {
		t.Errorf("core-only footprint %+v", f)
	}
}

func TestAtoiCommas(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "12": 12, "999999999": 999999999} {
		if v, ok := atoi(in); !ok || v != want {
			t.Errorf("atoi(%q) = %d, %v", in, v, ok)
		}
	}
	for _, in := range []string{"", "-1", "1a", "1234567890"} {
		if _, ok := atoi(in); ok {
			t.Errorf("atoi(%q) ok", in)
		}
	}
	for v, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := commas(v); got != want {
			t.Errorf("commas(%d) = %s", v, got)
		}
	}
}
