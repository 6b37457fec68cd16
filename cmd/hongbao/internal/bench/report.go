package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/cmd/hongbao/internal/progress"
	"github.com/hongbao/hongbao/internal/embedded"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/service"
)

// Report is everything one run measured. It encodes as the JSON document
// of `hongbao bench --json`.
type Report struct {
	Settings  Settings           `json:"settings"`
	Scenarios map[string]*Result `json:"scenarios"` // by scenario name
	Ceilings  map[string]*Result `json:"ceilings"`  // transport, transport_burst, storage, read, read_ledger
	Ratios    Ratios             `json:"ratios"`
	// HotRatios is every hot round's burst time ÷ its no-op burst time,
	// sorted; the median round is the one in Scenarios and Ceilings.
	HotRatios []float64 `json:"hot_round_ratios,omitempty"`
	// Preload is what --preload wrote and the catch-up after it; null
	// without a preload.
	Preload *PreloadReport `json:"preload"`
	// Rebuild describes the streams the rebuild scenario replayed; null
	// when it did not run.
	Rebuild   *RebuildReport `json:"rebuild"`
	Resources Resources      `json:"resources"`
	Seconds   float64        `json:"seconds"` // the whole run, setup included

	setup map[string]float64 // setup seconds by scenario
	start time.Time
}

// Result is one measured phase: a scenario or a ceiling.
type Result struct {
	Name string `json:"name"`
	Unit string `json:"unit"` // what one operation is: opens, grabs, pairs, requests, msgs, events
	// Clients is the concurrency: clients each with one request
	// outstanding; for bursts every request at once; for storage the
	// publishes in flight.
	Clients int   `json:"clients"`
	Count   int64 `json:"count"` // operations done
	// Errors is the number of failed operations: contract error replies
	// (by machine code, plus unexpected_reply for a reply of the wrong
	// shape, jetstream_<code> for storage) and transport failures (timeout,
	// no_responders, other).
	Errors          int64            `json:"errors"`
	ErrorsByCode    map[string]int64 `json:"errors_by_code"`
	TransportErrors map[string]int64 `json:"transport_errors"`
	FirstError      string           `json:"first_error,omitempty"`
	// Outcomes counts successful replies by status (open, grab), state
	// (wrap+pay: live) or "stored" (storage).
	Outcomes map[string]int64 `json:"outcomes"`
	// Seconds is the wall time from the first send to the last reply;
	// PerSecond is Count / Seconds.
	Seconds   float64 `json:"seconds"`
	PerSecond float64 `json:"per_second"`
	Latency   Latency `json:"latency_ms"`
	// SetupSeconds is the unmeasured setup of a scenario (its envelopes).
	SetupSeconds float64 `json:"setup_seconds,omitempty"`
	// Expect states the exact outcome the run must have; Correct reports
	// whether it had it.
	Expect  string `json:"expect"`
	Correct bool   `json:"correct"`

	tally *tally
}

func newResult(name, unit string, clients int, count int64, elapsed time.Duration, t *tally, h *histogram) *Result {
	res := &Result{
		Name: name, Unit: unit, Clients: clients, Count: count,
		ErrorsByCode: t.codes, TransportErrors: t.transport, FirstError: t.firstErr, Outcomes: t.outcomes,
		Seconds: elapsed.Seconds(), Latency: h.summary(), tally: t,
	}
	for _, v := range t.codes {
		res.Errors += v
	}
	for _, v := range t.transport {
		res.Errors += v
	}
	if elapsed > 0 {
		res.PerSecond = float64(count) / elapsed.Seconds()
	}
	return res
}

// AllCorrect reports whether every phase that ran had its exact expected
// outcome.
func (r *Report) AllCorrect() bool {
	for _, m := range []map[string]*Result{r.Scenarios, r.Ceilings} {
		for _, res := range m {
			if !res.Correct {
				return false
			}
		}
	}
	return true
}

func (r *Result) check(expect string, ok bool) { r.Expect, r.Correct = expect, ok }

// Ratios relate each scenario to the machine's ceilings measured in the
// same run. A ratio is null when a side of it did not run.
type Ratios struct {
	// SpreadOverTransport is spread opens/s ÷ no-op requests/s (same
	// clients, same request sizes): the share of the request/reply ceiling
	// the service reaches.
	SpreadOverTransport *float64 `json:"spread_over_transport"`
	// SpreadOverStorage is spread opens/s ÷ raw conditional JetStream
	// appends/s: each open is one such append.
	SpreadOverStorage *float64 `json:"spread_over_storage"`
	// SpreadOverStoreReply is spread opens/s ÷ the store_reply ceiling's
	// requests/s: the service against a responder that does nothing but
	// the open's I/O (receive, one conditional JetStream append, reply).
	SpreadOverStoreReply *float64 `json:"spread_over_store_reply"`
	// GrabOverTransport is grabs/s ÷ no-op requests/s.
	GrabOverTransport *float64 `json:"grab_over_transport"`
	// HotBurstOverTransportBurst is the hot burst's wall time ÷ the no-op
	// burst's: how many times longer a burst on one envelope takes than
	// the same burst with nothing behind it (higher is slower).
	HotBurstOverTransportBurst *float64 `json:"hot_burst_time_over_transport_burst_time"`
	// RebuildOverRead is, by projection, its rebuild's events/s ÷ a plain
	// ordered-consumer read of its stream (x-read): read (ENVELOPES) for
	// detail, users and outbox, read_ledger (LEDGER) for wallets. Null
	// when rebuild did not run.
	RebuildOverRead map[string]float64 `json:"rebuild_over_read"`
}

func (r *Report) computeRatios() {
	rate := func(a, b *Result) *float64 {
		if a == nil || b == nil || b.PerSecond == 0 {
			return nil
		}
		v := a.PerSecond / b.PerSecond
		return &v
	}
	sc, cl := r.Scenarios, r.Ceilings
	r.Ratios.SpreadOverTransport = rate(sc[ScenarioSpread], cl[CeilingTransport])
	r.Ratios.SpreadOverStorage = rate(sc[ScenarioSpread], cl[CeilingStorage])
	r.Ratios.SpreadOverStoreReply = rate(sc[ScenarioSpread], cl[CeilingStoreReply])
	r.Ratios.GrabOverTransport = rate(sc[ScenarioGrab], cl[CeilingTransport])
	if hot, burst := sc[ScenarioHot], cl[CeilingTransportBurst]; hot != nil && burst != nil && burst.Seconds > 0 {
		v := hot.Seconds / burst.Seconds
		r.Ratios.HotBurstOverTransportBurst = &v
	}
	for _, name := range projections.Names {
		if v := rate(sc[rebuildPrefix+name], cl[sourceOf(name).ceiling]); v != nil {
			if r.Ratios.RebuildOverRead == nil {
				r.Ratios.RebuildOverRead = map[string]float64{}
			}
			r.Ratios.RebuildOverRead[name] = *v
		}
	}
	r.Seconds = time.Since(r.start).Seconds()
}

// Settings describe the run: what was measured, where, on what.
type Settings struct {
	RunID  string `json:"run_id"`
	Time   string `json:"time"`   // start, RFC 3339
	Target string `json:"target"` // "embedded" or the NATS URL (credentials hidden)
	// Sync is always or default for the embedded server, "server" for a
	// NATS URL (that server's own setting, unknown here).
	Sync         string `json:"sync"`
	SyncAlways   *bool  `json:"sync_always"`             // as the running server reports it
	SyncInterval string `json:"sync_interval,omitempty"` // background fsync interval when not always
	StoreParent  string `json:"store_parent,omitempty"`  // where the temporary store was
	Instance     string `json:"instance"`                // "full" (as serve runs it), "core-only", or "external"
	GroupCommit  *bool  `json:"group_commit,omitempty"`  // the embedded service's (eventstore.Config.GroupCommit)

	Prefix         string   `json:"prefix"`
	Scenarios      []string `json:"scenarios"`
	Clients        int      `json:"clients"`
	Envelopes      int      `json:"envelopes"`
	Opens          int      `json:"opens"`
	Count          int      `json:"count"`
	Total          int      `json:"total"`
	HotCount       int      `json:"hot_count"`
	HotOpeners     int      `json:"hot_openers"`
	HotRounds      int      `json:"hot_rounds"`
	Grabs          int      `json:"grabs"`
	GrabEnvelopes  int      `json:"grab_envelopes"`
	Wraps          int      `json:"wraps"`
	TransportOps   int      `json:"transport_requests"`
	StorageMsgs    int      `json:"storage_msgs"`
	StorageInFly   int      `json:"storage_in_flight"`
	StorageMsgSize int      `json:"storage_msg_size"`
	RebuildEvents  int      `json:"rebuild_events"`
	Preload        int      `json:"preload"`
	RequestTimeout string   `json:"request_timeout"`
	Timeout        string   `json:"timeout"`

	GoVersion         string `json:"go_version"`
	GOMAXPROCS        int    `json:"gomaxprocs"`
	NumCPU            int    `json:"num_cpu"`
	OS                string `json:"os"`
	Arch              string `json:"arch"`
	HongbaoVersion    string `json:"hongbao_version"`
	NATSServerVersion string `json:"nats_server_version,omitempty"` // embedded only
	NATSGoVersion     string `json:"nats_go_version"`

	// Notes say what the run left out and why.
	Notes []string `json:"notes,omitempty"`
}

func newReport(c *Config, runID string) *Report {
	now := time.Now()
	gov, procs, cpus := goInfo()
	s := Settings{
		RunID: runID, Time: now.Format(time.RFC3339), Target: "embedded", Sync: c.Sync,
		Prefix: c.Prefix, Scenarios: c.Scenarios, Clients: c.Clients,
		Envelopes: c.Envelopes, Opens: c.Opens, Count: c.Count, Total: c.Total,
		HotCount: c.HotCount, HotOpeners: c.HotOpeners, HotRounds: c.HotRounds, Grabs: c.Grabs, GrabEnvelopes: c.GrabEnvelopes,
		Wraps: c.Wraps, TransportOps: c.TransportOps, StorageMsgs: c.StorageMsgs, StorageInFly: c.StoragePend,
		StorageMsgSize: c.StorageSize, RebuildEvents: c.RebuildEvents, Preload: c.Preload, Notes: c.Notes,
		RequestTimeout: c.RequestTimeout.String(), Timeout: c.Timeout.String(),
		GoVersion: gov, GOMAXPROCS: procs, NumCPU: cpus, OS: runtime.GOOS, Arch: runtime.GOARCH,
		HongbaoVersion: service.Version, NATSGoVersion: nats.Version,
	}
	if c.NATSURL != "" {
		s.Target, s.Sync, s.Instance = embedded.RedactURL(c.NATSURL), "server", "external"
	}
	return &Report{Settings: s, Scenarios: map[string]*Result{}, Ceilings: map[string]*Result{}, setup: map[string]float64{}, start: now}
}

func (s *Settings) fromEnv(e *env) {
	if always, interval, ok := e.syncSetting(); ok {
		s.SyncAlways = &always
		if !always {
			s.SyncInterval = interval.String()
		}
		s.NATSServerVersion = server.VERSION
		s.StoreParent = e.cfg.Dir
		s.Instance = "full"
		gc := e.groupCommit()
		s.GroupCommit = &gc
		if e.cfg.CoreOnly {
			s.Instance = "core-only"
		}
		if s.StoreParent == "" {
			s.StoreParent = "(system temporary directory)"
		}
	}
}

// goInfo describes the Go runtime for the report.
func goInfo() (version string, maxprocs, cpus int) {
	return runtime.Version(), runtime.GOMAXPROCS(0), runtime.NumCPU()
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for people: settings, one row per phase,
// the ratios, then checks and errors.
func (r *Report) WriteTable(w io.Writer) error {
	s := &r.Settings
	var b strings.Builder
	sync := s.Sync
	switch {
	case s.SyncAlways != nil && *s.SyncAlways:
		sync += " (fsync before every ack)"
	case s.SyncAlways != nil:
		sync += " (fsync every " + s.SyncInterval + ")"
	case s.Sync == "server":
		sync += " (the server's own setting)"
	}
	fmt.Fprintf(&b, "hongbao bench  %s  run %s\n", s.Time, s.RunID)
	target := s.Target
	if s.NATSServerVersion != "" {
		target = "embedded nats-server " + s.NATSServerVersion + " and a " + s.Instance + " instance, store in " + s.StoreParent
	}
	fmt.Fprintf(&b, "target %s; sync %s\n", target, sync)
	fmt.Fprintf(&b, "%s %s/%s, GOMAXPROCS %d, %d CPUs; %d clients; %.1fs in all\n",
		s.GoVersion, s.OS, s.Arch, s.GOMAXPROCS, s.NumCPU, s.Clients, r.Seconds)
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	b.WriteString("\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	// The first column is padded by hand: tabwriter aligns every cell right.
	const nameWidth = len(CeilingTransportBurst) + 2
	fmt.Fprintf(tw, "%-*s\tcount\terrors\tseconds\trate\tp50\tp99\tp99.9\tmax\tcheck\t\n", nameWidth, "phase")
	rows := func(title string, m map[string]*Result, order []string) {
		fmt.Fprintf(tw, "%-*s\t\t\t\t\t\t\t\t\t\t\n", nameWidth, title)
		for _, name := range order {
			res := m[name]
			if res == nil {
				continue
			}
			check := "ok"
			if !res.Correct {
				check = "WRONG"
			}
			l := res.Latency
			p50, p99, p999, pmax := "-", "-", "-", "-" // no per-operation latency (reads, rebuilds)
			if l.Count > 0 {
				p50, p99, p999, pmax = msString(l.P50), msString(l.P99), msString(l.P999), msString(l.Max)
			}
			fmt.Fprintf(tw, "%-*s\t%s\t%s\t%.2f\t%s %s/s\t%s\t%s\t%s\t%s\t%s\t\n",
				nameWidth, "  "+res.Name, commas(res.Count), commas(res.Errors), res.Seconds, commas(int64(math.Round(res.PerSecond))), res.Unit,
				p50, p99, p999, pmax, check)
		}
	}
	rows("scenarios", r.Scenarios, resultOrder())
	rows("ceilings", r.Ceilings, []string{CeilingTransport, CeilingStorage, CeilingStoreReply, CeilingTransportBurst, CeilingRead, CeilingReadLedger})
	if err := tw.Flush(); err != nil {
		return err
	}

	b.WriteString("\nratios\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	ratio := func(name string, v *float64, what string) {
		if v != nil {
			fmt.Fprintf(tw, "  %s\t%.3f\t%s\n", name, *v, what)
		} else {
			fmt.Fprintf(tw, "  %s\t-\t%s\n", name, what)
		}
	}
	ratio("spread / transport", r.Ratios.SpreadOverTransport, "opens/s ÷ no-op requests/s (same clients, same request sizes)")
	ratio("spread / storage", r.Ratios.SpreadOverStorage, "opens/s ÷ raw conditional JetStream appends/s (each open is one)")
	ratio("spread / store_reply", r.Ratios.SpreadOverStoreReply, "opens/s ÷ requests/s of a responder that only appends and replies")
	ratio("grab / transport", r.Ratios.GrabOverTransport, "grabs/s ÷ no-op requests/s")
	ratio("hot / transport_burst", r.Ratios.HotBurstOverTransportBurst, fmt.Sprintf("burst wall time ÷ no-op burst wall time (times slower); median of %d rounds %s", len(r.HotRatios), fmtRatios(r.HotRatios)))
	for _, name := range projections.Names {
		src := sourceOf(name)
		var v *float64
		if x, ok := r.Ratios.RebuildOverRead[name]; ok {
			v = &x
		}
		ratio(rebuildPrefix+name+" / "+src.ceiling, v, "rebuild events/s ÷ plain read of "+src.stream+" events/s (x-read)")
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if p := r.Preload; p != nil {
		catchUp := "-"
		if p.CatchUpSeconds != nil {
			catchUp = fmt.Sprintf("%.1fs", *p.CatchUpSeconds)
		}
		fmt.Fprintf(&b, "\npreload: %s envelopes, %s events in %.1fs (%s events/s), %s errors; ENVELOPES at seq %s; read models and dispatcher caught up in %s\n",
			commas(int64(p.Envelopes)), commas(p.Events), p.Seconds, commas(int64(math.Round(p.EventsPerSecond))), commas(p.Errors),
			commas(int64(p.StreamEvents)), catchUp)
	}
	if rb := r.Rebuild; rb != nil {
		setup := "none needed"
		if rb.SetupEnvelopes > 0 {
			setup = fmt.Sprintf("%s envelopes wrapped, paid and opened in %.1fs", commas(int64(rb.SetupEnvelopes)), rb.SetupSeconds)
		}
		fmt.Fprintf(&b, "\nrebuild: ENVELOPES %s events, LEDGER %s events; setup: %s; caught up in %.1fs before measuring\n",
			commas(int64(rb.Events)), commas(int64(rb.LedgerEvents)), setup, rb.CatchUpSeconds)
	}

	b.WriteString("\nresources (heap: the whole process — server, service and clients share it)\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	const rowWidth = len("  after setup")
	fmt.Fprintf(tw, "%-*s\theap in use\tGo sys\tRSS\tstore\tjetstream\tprojections\tENVELOPES\tLEDGER\t\n", rowWidth, "")
	for _, row := range []struct {
		name string
		f    *Footprint
	}{{"after setup", r.Resources.AfterSetup}, {"end", r.Resources.End}} {
		if row.f == nil {
			continue
		}
		f := row.f
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", rowWidth, "  "+row.name, mibString(&f.HeapInuseMiB), mibString(&f.SysMiB),
			mibString(f.RSSMiB), mibString(f.StoreMiB), mibString(f.JetStreamMiB), mibString(f.ProjectionsMiB),
			seqString(f.StreamEvents, envelopesSource().stream), seqString(f.StreamEvents, ledgerSource().stream))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	b.WriteString("\nchecks\n")
	for _, m := range []map[string]*Result{r.Scenarios, r.Ceilings} {
		for _, name := range sortedKeys(m) {
			res := m[name]
			verdict := "correct"
			if !res.Correct {
				verdict = "WRONG: got " + outcomeString(res)
			}
			setup := ""
			if res.SetupSeconds > 0 {
				setup = fmt.Sprintf(" (setup %.1fs)", res.SetupSeconds)
			}
			fmt.Fprintf(&b, "  %s: want %s: %s%s\n", name, res.Expect, verdict, setup)
			if res.Errors > 0 {
				fmt.Fprintf(&b, "    errors: %s; first: %s\n", errorString(res), res.FirstError)
			}
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func outcomeString(res *Result) string {
	var parts []string
	for _, k := range sortedKeys(res.Outcomes) {
		parts = append(parts, fmt.Sprintf("%s %d", k, res.Outcomes[k]))
	}
	parts = append(parts, fmt.Sprintf("%d errors", res.Errors))
	return strings.Join(parts, ", ")
}

func errorString(res *Result) string {
	var parts []string
	for _, k := range sortedKeys(res.ErrorsByCode) {
		parts = append(parts, fmt.Sprintf("%s %d", k, res.ErrorsByCode[k]))
	}
	for _, k := range sortedKeys(res.TransportErrors) {
		parts = append(parts, fmt.Sprintf("transport %s %d", k, res.TransportErrors[k]))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// resultOrder lists the scenarios' results in run order: a rebuild has
// one result per projection.
func resultOrder() []string {
	var out []string
	for _, s := range AllScenarios {
		if s != ScenarioRebuild {
			out = append(out, s)
			continue
		}
		for _, name := range projections.Names {
			out = append(out, rebuildPrefix+name)
		}
	}
	return out
}

// mibString formats MiB, "-" for unknown.
func mibString(v *float64) string {
	if v == nil {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", *v)
}

// seqString formats a stream's last sequence, "-" for unknown.
func seqString(m map[string]uint64, stream string) string {
	v, ok := m[stream]
	if !ok {
		return "-"
	}
	return commas(int64(v))
}

// msString formats milliseconds for people: 850µs, 12.3ms, 1.25s.
func msString(v float64) string {
	switch {
	case v < 1:
		return fmt.Sprintf("%.0fµs", v*1000)
	case v < 100:
		return fmt.Sprintf("%.1fms", v)
	case v < 1000:
		return fmt.Sprintf("%.0fms", v)
	}
	return fmt.Sprintf("%.2fs", v/1000)
}

// commas formats n with thousands separators: 12,345.
func commas(n int64) string { return progress.Commas(n) }

// fmtRatios lists ratios briefly: [0.91 1.02 1.3].
func fmtRatios(v []float64) string {
	parts := make([]string, len(v))
	for i, x := range v {
		parts[i] = strconv.FormatFloat(x, 'g', 3, 64)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
