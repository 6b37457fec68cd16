package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/ops"
	"github.com/hongbao/hongbao/projections"
)

// errDifferences: verify found rows that differ (exit status 1).
var errDifferences = errors.New("the rebuilt projection differs from the live one")

// opsFlags are the flags shared by status and rebuild.
type opsFlags struct {
	connFlags
	instance, name, prefix string
	json                   bool
}

func (o *opsFlags) register(fs *flag.FlagSet) {
	o.connFlags.register(fs, "NATS server of the running service; when it does not answer, --data is opened instead")
	fs.StringVar(&o.instance, "instance", "", "service instance id (see 'nats micro info hongbao'); needed when several run")
	fs.StringVar(&o.name, "name", "hongbao", "micro service name")
	fs.StringVar(&o.prefix, "prefix", "hongbao", "subject prefix of the service")
	fs.BoolVar(&o.json, "json", false, "print JSON")
}

// target is either a running instance (subject prefix of its admin
// endpoints) or an offline set of projections.
type target struct {
	nc    *nats.Conn
	admin string // <prefix>.admin.<id>. when online
	set   *projections.Set
	close func()
}

// connect finds the running instance, or opens the data directory.
func (o *opsFlags) connect(ctx context.Context, log *slog.Logger) (*target, error) {
	if !o.offline {
		nc, err := nats.Connect(o.natsURL, nats.Name("hongbao-ops"), nats.Timeout(2*time.Second))
		if err == nil {
			ids, err := discover(nc, o.name)
			switch {
			case err != nil:
				nc.Close()
				return nil, err
			case o.instance != "":
				if !contains(ids, o.instance) {
					nc.Close()
					return nil, fmt.Errorf("%w: no instance %q of %s answers (found %v)", errUsage, o.instance, o.name, ids)
				}
				return &target{nc: nc, admin: o.prefix + ".admin." + o.instance + ".", close: nc.Close}, nil
			case len(ids) == 1:
				return &target{nc: nc, admin: o.prefix + ".admin." + ids[0] + ".", close: nc.Close}, nil
			case len(ids) > 1:
				nc.Close()
				return nil, fmt.Errorf("%w: %d instances of %s run (%s): pick one with --instance", errUsage, len(ids), o.name, strings.Join(ids, ", "))
			}
			// NATS is there but no service: use it for the offline work.
			return o.openOffline(ctx, nc, log)
		}
	}
	return o.openOffline(ctx, nil, log)
}

// discover pings the micro service and returns the ids that answer.
func discover(nc *nats.Conn, name string) ([]string, error) {
	subject, err := micro.ControlSubject(micro.PingVerb, name, "")
	if err != nil {
		return nil, err
	}
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishRequest(subject, inbox, nil); err != nil {
		return nil, err
	}
	var ids []string
	deadline := time.Now().Add(500 * time.Millisecond)
	for {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var ping micro.Ping
		if json.Unmarshal(m.Data, &ping) == nil && ping.ID != "" {
			ids = append(ids, ping.ID)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// openOffline opens the projections of a stopped service: on the NATS
// connection given, or on an embedded server over --data.
func (o *opsFlags) openOffline(ctx context.Context, nc *nats.Conn, log *slog.Logger) (*target, error) {
	t := &target{}
	var closers []func()
	t.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	// Pebble's lock refuses while a service has these databases open.
	if nc == nil {
		enc, closeEmbedded, err := o.openEmbedded(ctx, "hongbao-ops")
		if err != nil {
			return nil, err
		}
		nc = enc
		closers = append(closers, closeEmbedded)
	} else {
		closers = append(closers, nc.Close)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.close()
		return nil, err
	}
	set, err := projections.Open(js, projections.Config{Dir: filepath.Join(o.data, "projections"), Logger: log})
	if err != nil {
		t.close()
		return nil, fmt.Errorf("%w (is a service still running on %s?)", err, o.data)
	}
	closers = append(closers, func() { _ = set.Close() })
	t.set = set
	return t, nil
}

func (t *target) request(subject string, body any, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	m, err := t.nc.Request(t.admin+subject, data, 10*time.Second)
	if err != nil {
		return fmt.Errorf("%s%s: %w", t.admin, subject, err)
	}
	if code := m.Header.Get(micro.ErrorCodeHeader); code != "" {
		return fmt.Errorf("%s%s: %s %s", t.admin, subject, code, m.Header.Get(micro.ErrorHeader))
	}
	return json.Unmarshal(m.Data, out)
}

const statusSynopsis = `Shows each read model's applied stream sequence against the stream's last
sequence (the lag), and the rebuild and verify jobs of the running service. With
no service running it reads the data directory (--data) instead.`

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("status", statusSynopsis, stderr)
	var o opsFlags
	o.register(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	t, err := o.connect(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer t.close()
	var st ops.Status
	if t.set != nil {
		st.Instance = "offline: " + o.data
		if st.Projections, err = t.set.Status(ctx); err != nil {
			return err
		}
	} else if err := t.request("status", struct{}{}, &st); err != nil {
		return err
	}
	if o.json {
		return json.NewEncoder(stdout).Encode(st)
	}
	fmt.Fprintf(stdout, "instance %s\n\n%-8s %5s %12s %12s %10s\n", st.Instance, "VIEW", "GEN", "APPLIED", "STREAM", "LAG")
	for _, l := range st.Projections {
		fmt.Fprintf(stdout, "%-8s %5d %12d %12d %10d\n", l.Name, l.Generation, l.Applied, l.StreamLast, l.Lag)
	}
	if d := st.Dispatch; d != nil {
		fmt.Fprintf(stdout, "\ndispatch: cursor %d, delivered %d, duplicates %d, parked %d, retries %d", d.Cursor, d.Delivered, d.Duplicates, d.Parked, d.Retries)
		if d.LastError != "" {
			fmt.Fprintf(stdout, " (last error: %s)", d.LastError)
		}
		fmt.Fprintln(stdout)
	}
	if r := st.Reconcile; r != nil {
		verdict := "ok"
		if !r.OK {
			verdict = fmt.Sprintf("%d DISCREPANCIES %v %s", r.Discrepancies, r.ByKind, r.Error)
		}
		fmt.Fprintf(stdout, "reconcile at %s: %d envelopes, %d transfers, balanced %v: %s\n", r.At.Format(time.RFC3339), r.Envelopes, r.Transfers, r.Balanced, verdict)
	}
	for _, j := range st.Jobs {
		fmt.Fprintf(stdout, "\njob %s: %s %s %s (%d/%d)", j.ID, j.Kind, j.Projection, j.State, j.Progress.Position, j.Progress.Total)
		if j.Error != "" {
			fmt.Fprintf(stdout, ": %s", j.Error)
		}
	}
	if len(st.Jobs) > 0 {
		fmt.Fprintln(stdout)
	}
	return nil
}

const rebuildSynopsis = `Rebuilds read models from stream sequence 1: hongbao rebuild [detail|users|outbox|all].
A running service rebuilds into a new generation while it keeps answering from
the live one, then swaps it in; progress is shown until it is done. With --verify
nothing is swapped: a fresh rebuild is compared with the live projection and every
difference is listed (exit status 1 if there is any). With no service running,
the data directory (--data) is rebuilt in place.`

func runRebuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("rebuild", rebuildSynopsis, stderr)
	var o opsFlags
	o.register(fs)
	verify := fs.Bool("verify", false, "compare a fresh rebuild with the live projection instead of swapping")
	which, err := parseWithArg(fs, args)
	if err != nil {
		return err
	}
	if which == "" {
		which = "all"
	}
	names := []string{which}
	if which == "all" {
		names = projections.Names
	}
	for _, n := range names {
		if !contains(projections.Names, n) {
			fmt.Fprintf(stderr, "unknown projection %q: want detail, users, outbox or all\n", n)
			return errUsage
		}
	}
	t, err := o.connect(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer t.close()
	pr := newProgressPrinter(stderr)
	kind := "rebuild"
	if *verify {
		kind = "verify"
	}
	var results []projections.VerifyResult
	if t.set != nil {
		for _, n := range names {
			if *verify {
				res, err := t.set.Verify(ctx, n, pr.show)
				if err != nil {
					return err
				}
				results = append(results, res)
			} else if err := t.set.Rebuild(ctx, n, pr.show); err != nil {
				return err
			}
			pr.done()
		}
	} else {
		if results, err = t.runJobs(ctx, kind, which, pr); err != nil {
			return err
		}
	}
	return report(stdout, o.json, kind, names, results)
}

// runJobs starts the jobs on the running instance and follows them.
func (t *target) runJobs(ctx context.Context, kind, which string, pr *progressPrinter) ([]projections.VerifyResult, error) {
	var started struct {
		Jobs []struct{ ID string } `json:"jobs"`
	}
	if err := t.request(kind, ops.JobRequest{Projection: which}, &started); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, j := range started.Jobs {
		want[j.ID] = true
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		var st ops.Status
		if err := t.request("status", struct{}{}, &st); err != nil {
			return nil, err
		}
		var results []projections.VerifyResult
		running := 0
		for _, j := range st.Jobs {
			if !want[j.ID] {
				continue
			}
			switch j.State {
			case "running":
				running++
				pr.show(j.Progress)
			case "failed":
				return nil, fmt.Errorf("%s %s: %s", j.Kind, j.Projection, j.Error)
			case "done":
				if j.Result != nil {
					results = append(results, *j.Result)
				}
			}
		}
		if running == 0 {
			pr.done()
			return results, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("stopped following; the jobs go on in the service: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

func report(w io.Writer, asJSON bool, kind string, names []string, results []projections.VerifyResult) error {
	diffs := 0
	for _, r := range results {
		diffs += r.Count
	}
	if asJSON {
		if err := json.NewEncoder(w).Encode(map[string]any{"kind": kind, "projections": names, "verify": results, "differences": diffs}); err != nil {
			return err
		}
	} else if kind == "rebuild" {
		fmt.Fprintf(w, "rebuilt and swapped in: %s\n", strings.Join(names, ", "))
	} else {
		for _, r := range results {
			fmt.Fprintf(w, "%s: %d rows compared at seq %d, %d differences\n", r.Projection, r.Rows, r.Checkpoint, r.Count)
			for _, d := range r.Differences {
				fmt.Fprintf(w, "  %s\n    live:    %s\n    rebuilt: %s\n", d.Key, d.Live, d.Rebuilt)
			}
		}
	}
	if diffs > 0 {
		return fmt.Errorf("%w: %d rows", errDifferences, diffs)
	}
	return nil
}
