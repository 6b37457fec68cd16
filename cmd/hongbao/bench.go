package main

import (
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/hongbao/hongbao/cmd/hongbao/internal/bench"
	"github.com/hongbao/hongbao/cmd/hongbao/internal/progress"
	"github.com/hongbao/hongbao/internal/embedded"
)

type benchCmd struct {
	NATSURL   string        `name:"nats-url" env:"HONGBAO_NATS_URL,NATS_URL" placeholder:"URL" help:"Target the hongbao service behind this NATS server instead of an embedded one."`
	Creds     string        `name:"creds" env:"HONGBAO_CREDS,NATS_CREDS" placeholder:"FILE" help:"NATS credentials file for --nats-url."`
	Prefix    string        `name:"prefix" default:"${bench_prefix}" help:"Subject prefix of the service."`
	Config    string        `name:"config" placeholder:"FILE" help:"Embedded server configuration, read as serve reads it (unset: ./nats.conf when present, else built-in defaults); --sync replaces its sync_interval, a temporary directory its store; not with --nats-url."`
	Sync      string        `name:"sync" placeholder:"MODE" help:"Embedded server's JetStream fsync: always (before every ack, as nats.conf; the default) or default (JetStream's 2 minute interval); not with --nats-url."`
	Dir       string        `name:"dir" placeholder:"DIR" help:"Parent of the embedded server's temporary store directory (the disk measured); default the system temporary directory."`
	Scenarios string        `name:"scenario" default:"all" help:"Scenarios to run: spread, grab, wrap, hot, rebuild (comma-separated) or all."`
	Clients   int           `name:"clients" default:"${bench_clients}" help:"Concurrent clients, each with one request outstanding (spread, grab, wrap, transport)."`
	Envs      int           `name:"envelopes" default:"${bench_envelopes}" help:"spread: envelopes set up."`
	Opens     int           `name:"opens" default:"${bench_opens}" help:"spread: opens, round-robin over the envelopes, each by a distinct user."`
	Count     int           `name:"count" default:"${bench_count}" help:"Shares of each spread, grab and wrap envelope."`
	Total     int           `name:"total" default:"${bench_total}" help:"Fen in each spread, grab and wrap envelope."`
	HotCount  int           `name:"hot-count" default:"${bench_hot_count}" help:"hot: shares of the one envelope (100 fen each)."`
	HotOpen   int           `name:"hot-openers" default:"${bench_hot_openers}" help:"hot and transport_burst: distinct openers, all at once."`
	HotRounds int           `name:"hot-rounds" default:"${bench_hot_rounds}" help:"hot and transport_burst: rounds, alternately; the median round's ratio is reported."`
	Grabs     int           `name:"grabs" default:"${bench_grabs}" help:"grab: grabs, round-robin over the grab envelopes."`
	GrabEnvs  int           `name:"grab-envelopes" default:"${bench_grab_envelopes}" help:"grab: live envelopes set up."`
	Wraps     int           `name:"wraps" default:"${bench_wraps}" help:"wrap: wrap + pay pairs."`
	Transport int           `name:"transport-requests" default:"0" help:"transport: no-op requests (0: as many as --opens)."`
	StMsgs    int           `name:"storage-msgs" default:"${bench_storage_msgs}" help:"storage: JetStream publishes."`
	StPend    int           `name:"storage-in-flight" default:"${bench_storage_in_flight}" help:"storage: async publishes in flight."`
	StSize    int           `name:"storage-size" default:"${bench_storage_size}" help:"storage: message size in bytes."`
	RbEvents  int           `name:"rebuild-events" default:"${bench_rebuild_events}" help:"rebuild: events ENVELOPES holds at least when the rebuilds are measured (topped up through the service when the scenarios before left fewer)."`
	Preload   int           `name:"preload" default:"${bench_preload}" help:"Embedded: before any setup, publish this many paid envelopes straight into ENVELOPES, then wait until the read models and the dispatcher have caught up; with --sync always a big preload is slow (raise --timeout too)."`
	ReqTO     time.Duration `name:"request-timeout" default:"${bench_request_timeout}" help:"Timeout of one request (and of a burst after its last send)."`
	Timeout   time.Duration `name:"timeout" default:"${bench_timeout}" help:"Bound of the whole run."`
	JSON      bool          `name:"json" help:"Print one JSON document with every figure instead of the table."`
	Quiet     bool          `name:"quiet" help:"No progress on stderr."`
	Group     string        `name:"group-commit" default:"auto" enum:"auto,on,off" help:"Embedded: group commit of appends to different envelopes: auto (on with --sync always), on, off."`
	CoreOnly  bool          `name:"core-only" help:"Embedded: run the service without its read models and dispatcher (by default the whole instance runs, as serve runs it)."`
	CPUProf   string        `name:"cpuprofile" placeholder:"FILE" help:"Write a CPU profile of the whole run (service, server and clients share the process) to this file."`
	LogLevel  string        `name:"log-level" default:"warn" enum:"debug,info,warn,error" help:"Embedded service's log level on stderr: debug, info, warn, error."`
}

func (*benchCmd) Help() string { return benchSynopsis }

const benchSynopsis = `Drives a real hongbao service over NATS request/reply from many concurrent
clients, and measures in the same run, on the same server and durability
settings, the ceilings of the machine, so that every figure is also a ratio.

By default it starts an embedded NATS server configured as serve's (--config,
nats.conf), but with JetStream in a temporary directory under --dir, no
listener, and sync per --sync, and an in-process service; the clients use a
connection of their own. With --nats-url it targets a hongbao service
already running behind that server (wraps, pays and opens real envelopes of
sender "bench" there, and creates and deletes the stream BENCH_RAW).

Scenarios (--scenario, comma-separated, or all):
  spread  --opens opens spread round-robin over --envelopes envelopes (lucky,
          --count shares, --total fen; wrapped and paid in an unmeasured
          setup), each by a distinct user, from --clients clients: opens/s
  grab    --grabs read-only grabs on --grab-envelopes live envelopes: grabs/s
  wrap    --wraps wrap + pay pairs from --clients clients: pairs/s
  hot     one envelope of --hot-count shares, --hot-openers distinct users
          opening it all at once: wall time; exactly --hot-count opened, the
          rest exhausted, no errors (correct: true)
  rebuild runs last, embedded full instance only (all skips it with a note
          under --core-only or --nats-url; named, it is an error there):
          tops ENVELOPES up to --rebuild-events events when the scenarios
          before left fewer (envelopes wrapped, paid and fully opened
          through the service), waits for the read models and the
          dispatcher, then rebuilds each read model (detail, users, outbox
          from ENVELOPES; wallets from LEDGER) into a new generation and
          swaps it in: events/s
Ceilings, run for the scenarios that need them:
  transport        no-op request/reply responder, driven like spread
  transport_burst  the hot burst against the no-op responder
  storage          raw JetStream async publishes (--storage-in-flight in
                   flight), one subject each, expected-last-subject-seq 0
  store_reply      spread's requests answered by a responder that makes one
                   conditional JetStream publish each (asynchronous), then
                   replies: the floor under any service that stores before
                   answering
  read             the whole ENVELOPES stream through an ordered consumer,
                   nothing decoded (read_ledger: the same of LEDGER)
Ratios: spread/transport, spread/storage, spread/store_reply, grab/transport,
hot burst time / transport burst time, rebuild_<view>/read (x-read; wallets
over read_ledger).

--preload N first publishes N paid envelopes straight into ENVELOPES and
waits for the instance to catch up, to measure against a bigger store. The
report also gives the process's heap (server, service and clients share the
one process) and the store directory's size (sum of its files), after the
setup and at the end.

Progress goes to stderr once a second (rewritten in place on a terminal;
--quiet for none); the report goes to stdout, a table or --json.`

func (c *benchCmd) Run(e *runEnv) error {
	ctx, stdout, stderr := e.ctx, e.stdout, e.stderr
	log, err := newLogger(stderr, c.LogLevel)
	if err != nil {
		return err
	}
	cfg := bench.DefaultConfig()
	cfg.NATSURL, cfg.Creds, cfg.Prefix, cfg.Dir = c.NATSURL, c.Creds, c.Prefix, c.Dir
	if c.Sync != "" {
		cfg.Sync = c.Sync
	}
	cfg.ConfigFile = natsConfFile(c.Config)
	if cfg.NATSURL != "" {
		if c.Sync != "" {
			return usageErrorf("--sync is the setting of the server at --nats-url, not of the benchmark")
		}
		if c.Config != "" {
			return usageErrorf("--config is for the embedded server, not with --nats-url")
		}
		cfg.Sync, cfg.ConfigFile = "", ""
		fmt.Fprintf(stderr, "hongbao bench: against the service behind %s\n", embedded.RedactURL(cfg.NATSURL))
	}
	cfg.CoreOnly = c.CoreOnly
	cfg.GroupCommit = c.Group
	if err := cfg.SelectScenarios(c.Scenarios); err != nil {
		return usageErrorf("%s", userMessage(err))
	}
	for _, n := range cfg.Notes {
		fmt.Fprintf(stderr, "hongbao bench: note: %s\n", n)
	}
	cfg.Clients, cfg.Envelopes, cfg.Opens, cfg.Count, cfg.Total = c.Clients, c.Envs, c.Opens, c.Count, c.Total
	cfg.HotRounds = c.HotRounds
	cfg.HotCount, cfg.HotOpeners, cfg.Grabs, cfg.GrabEnvelopes, cfg.Wraps = c.HotCount, c.HotOpen, c.Grabs, c.GrabEnvs, c.Wraps
	cfg.TransportOps, cfg.StorageMsgs, cfg.StoragePend, cfg.StorageSize = c.Transport, c.StMsgs, c.StPend, c.StSize
	cfg.RebuildEvents, cfg.Preload = c.RbEvents, c.Preload
	cfg.RequestTimeout, cfg.Timeout, cfg.Logger = c.ReqTO, c.Timeout, log
	if !c.Quiet {
		cfg.Progress, cfg.ProgressInPlace = stderr, progress.IsTerminal(stderr)
	}
	if err := cfg.Validate(); err != nil {
		return usageErrorf("%s", userMessage(err))
	}

	if c.CPUProf != "" {
		f, err := os.Create(c.CPUProf)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := bench.Run(ctx, cfg)
	if rep != nil {
		var werr error
		if c.JSON {
			werr = rep.WriteJSON(stdout)
		} else {
			werr = rep.WriteTable(stdout)
		}
		err = errors.Join(err, werr)
	}
	if err == nil && rep != nil && !rep.AllCorrect() {
		err = found(errors.New("some outcomes were wrong (see the checks)"))
	}
	return err
}
