package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"

	"github.com/hongbao/hongbao/cmd/hongbao/internal/bench"
	"github.com/hongbao/hongbao/cmd/hongbao/internal/progress"
)

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

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", benchSynopsis, stderr)
	def := bench.DefaultConfig()
	var (
		natsURL   = fs.String("nats-url", "", "target the hongbao service behind this NATS server instead of an embedded one")
		creds     = fs.String("creds", "", "NATS credentials file for --nats-url")
		prefix    = fs.String("prefix", def.Prefix, "subject prefix of the service")
		confFile  = fs.String("config", "nats.conf", "embedded server configuration, read as serve reads it (built-in defaults equal to the repository's nats.conf when the file is absent and the flag is not set); --sync replaces its sync_interval, a temporary directory its store; not with --nats-url")
		syncMode  = fs.String("sync", def.Sync, "embedded server's JetStream fsync: always (before every ack, as nats.conf) or default (JetStream's 2 minute interval); not with --nats-url")
		dir       = fs.String("dir", "", "parent of the embedded server's temporary store directory (the disk measured); default the system temporary directory")
		scenarios = fs.String("scenario", "all", "scenarios to run: spread, grab, wrap, hot, rebuild (comma-separated) or all")
		clients   = fs.Int("clients", def.Clients, "concurrent clients, each with one request outstanding (spread, grab, wrap, transport)")
		envs      = fs.Int("envelopes", def.Envelopes, "spread: envelopes set up")
		opens     = fs.Int("opens", def.Opens, "spread: opens, round-robin over the envelopes, each by a distinct user")
		count     = fs.Int("count", def.Count, "shares of each spread, grab and wrap envelope")
		total     = fs.Int("total", def.Total, "fen in each spread, grab and wrap envelope")
		hotCount  = fs.Int("hot-count", def.HotCount, "hot: shares of the one envelope (100 fen each)")
		hotOpen   = fs.Int("hot-openers", def.HotOpeners, "hot and transport_burst: distinct openers, all at once")
		hotRounds = fs.Int("hot-rounds", def.HotRounds, "hot and transport_burst: rounds, alternately; the median round's ratio is reported")
		grabs     = fs.Int("grabs", def.Grabs, "grab: grabs, round-robin over the grab envelopes")
		grabEnvs  = fs.Int("grab-envelopes", def.GrabEnvelopes, "grab: live envelopes set up")
		wraps     = fs.Int("wraps", def.Wraps, "wrap: wrap + pay pairs")
		transport = fs.Int("transport-requests", 0, "transport: no-op requests (0: as many as --opens)")
		stMsgs    = fs.Int("storage-msgs", def.StorageMsgs, "storage: JetStream publishes")
		stPend    = fs.Int("storage-in-flight", def.StoragePend, "storage: async publishes in flight")
		stSize    = fs.Int("storage-size", def.StorageSize, "storage: message size in bytes")
		rbEvents  = fs.Int("rebuild-events", def.RebuildEvents, "rebuild: events ENVELOPES holds at least when the rebuilds are measured (topped up through the service when the scenarios before left fewer)")
		preload   = fs.Int("preload", def.Preload, "embedded: before any setup, publish this many paid envelopes (lucky, 10 shares, 1000 fen, sender \"preload\") straight into ENVELOPES, 4,096 async publishes in flight, then wait until the read models and the dispatcher have caught up; with --sync always every message is fsynced, so a big preload is slow (raise --timeout too)")
		reqTO     = fs.Duration("request-timeout", def.RequestTimeout, "timeout of one request (and of a burst after its last send)")
		timeout   = fs.Duration("timeout", def.Timeout, "bound of the whole run")
		jsonOut   = fs.Bool("json", false, "print one JSON document with every figure instead of the table")
		quiet     = fs.Bool("quiet", false, "no progress on stderr")
		group     = fs.String("group-commit", "auto", "embedded: group commit of appends to different envelopes: auto (on with --sync always), on, off")
		coreOnly  = fs.Bool("core-only", false, "embedded: run the service without its read models and dispatcher (by default the whole instance runs, as serve runs it)")
		cpuProf   = fs.String("cpuprofile", "", "write a CPU profile of the whole run (service, server and clients share the process) to this file")
		logLevel  = fs.String("log-level", "warn", "embedded service's log level on stderr: debug, info, warn, error")
	)
	if err := parse(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	cfg := def
	cfg.NATSURL, cfg.Creds, cfg.Prefix, cfg.Dir = *natsURL, *creds, *prefix, *dir
	cfg.Sync = *syncMode
	cfg.ConfigFile = natsConfFile(*confFile, flagSet(fs.Visit, "config"))
	if cfg.NATSURL != "" {
		if flagSet(fs.Visit, "sync") {
			return fmt.Errorf("%w: --sync is the setting of the server at --nats-url, not of the benchmark", errUsage)
		}
		if flagSet(fs.Visit, "config") {
			return fmt.Errorf("%w: --config is for the embedded server, not with --nats-url", errUsage)
		}
		cfg.Sync, cfg.ConfigFile = "", ""
	}
	cfg.CoreOnly = *coreOnly
	cfg.GroupCommit = *group
	if err := cfg.SelectScenarios(*scenarios); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	for _, n := range cfg.Notes {
		fmt.Fprintf(stderr, "hongbao bench: note: %s\n", n)
	}
	cfg.Clients, cfg.Envelopes, cfg.Opens, cfg.Count, cfg.Total = *clients, *envs, *opens, *count, *total
	cfg.HotRounds = *hotRounds
	cfg.HotCount, cfg.HotOpeners, cfg.Grabs, cfg.GrabEnvelopes, cfg.Wraps = *hotCount, *hotOpen, *grabs, *grabEnvs, *wraps
	cfg.TransportOps, cfg.StorageMsgs, cfg.StoragePend, cfg.StorageSize = *transport, *stMsgs, *stPend, *stSize
	cfg.RebuildEvents, cfg.Preload = *rbEvents, *preload
	cfg.RequestTimeout, cfg.Timeout, cfg.Logger = *reqTO, *timeout, log
	if !*quiet {
		cfg.Progress, cfg.ProgressInPlace = stderr, progress.IsTerminal(stderr)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}

	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
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
		if *jsonOut {
			werr = rep.WriteJSON(stdout)
		} else {
			werr = rep.WriteTable(stdout)
		}
		err = errors.Join(err, werr)
	}
	if err == nil && rep != nil && !rep.AllCorrect() {
		err = errors.New("some outcomes were wrong (see the checks)")
	}
	return err
}
