package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/ops"
	"github.com/hongbao/hongbao/projections"
)

// opsFlags are the flags shared by status and rebuild.
type opsFlags struct {
	connFlags `embed:""`
	Instance  string `name:"instance" help:"Service instance id (see 'nats micro info hongbao'); needed when several run."`
	Name      string `name:"name" default:"hongbao" help:"Micro service name."`
	Prefix    string `name:"prefix" default:"hongbao" help:"Subject prefix of the service."`
	JSON      bool   `name:"json" help:"Print JSON."`
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
func (o *opsFlags) connect(ctx context.Context, log *slog.Logger, stderr io.Writer) (*target, error) {
	nc, err := o.dial("hongbao-ops", stderr)
	if err != nil || nc == nil {
		if err != nil {
			return nil, err
		}
		return o.openOffline(ctx, nil, log, stderr)
	}
	ids, err := discover(nc, o.Name)
	switch {
	case err != nil:
		nc.Close()
		return nil, unavailable(err)
	case o.Instance != "":
		if !slices.Contains(ids, o.Instance) {
			nc.Close()
			return nil, unavailablef("no instance %q of %s answers (found %v)", o.Instance, o.Name, ids)
		}
		return &target{nc: nc, admin: o.Prefix + ".admin." + o.Instance + ".", close: nc.Close}, nil
	case len(ids) == 1:
		return &target{nc: nc, admin: o.Prefix + ".admin." + ids[0] + ".", close: nc.Close}, nil
	case len(ids) > 1:
		nc.Close()
		return nil, usageErrorf("%d instances of %s run (%s): pick one with --instance", len(ids), o.Name, strings.Join(ids, ", "))
	}
	// NATS is there but no service: use it for the offline work.
	fmt.Fprintf(stderr, "hongbao: no %s service answers there; working offline on its streams and %s\n", o.Name, filepath.Join(filepath.Clean(o.Data), "projections"))
	return o.openOffline(ctx, nc, log, stderr)
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

// openOffline opens the projections of a stopped service: on the NATS
// connection given, or on an embedded server over --data.
func (o *opsFlags) openOffline(ctx context.Context, nc *nats.Conn, log *slog.Logger, stderr io.Writer) (*target, error) {
	if fi, err := os.Stat(o.Data); nc != nil && (err != nil || !fi.IsDir()) {
		nc.Close()
		return nil, unavailablef("no %s service answers on that server, and there is no data directory %s for its read models: start the service, or pass --data", o.Name, o.Data)
	}
	t := &target{}
	var closers []func()
	t.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	// Pebble's lock refuses while a service has these databases open.
	if nc == nil {
		enc, closeEmbedded, err := o.openEmbedded(ctx, "hongbao-ops", stderr)
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
	set, err := projections.Open(js, projections.Config{Dir: filepath.Join(o.Data, "projections"), Logger: log})
	if err != nil {
		t.close()
		return nil, unavailablef("%s (is a service still running on %s?)", userMessage(err), o.Data)
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
		return unavailablef("the service does not answer %s%s: %w", t.admin, subject, err)
	}
	if code := m.Header.Get(micro.ErrorCodeHeader); code != "" {
		return fmt.Errorf("the service answered %s%s with %s %s", t.admin, subject, code, m.Header.Get(micro.ErrorHeader))
	}
	return json.Unmarshal(m.Data, out)
}

type statusCmd struct {
	opsFlags `embed:""`
}

func (*statusCmd) Help() string {
	return `Shows each read model's applied stream sequence against the stream's last
sequence (the lag), and the rebuild and verify jobs of the running service. With
no service running it reads the data directory (--data) instead.`
}

func (c *statusCmd) Run(e *runEnv) error {
	ctx, stdout := e.ctx, e.stdout
	o := &c.opsFlags
	t, err := o.connect(ctx, slog.New(slog.DiscardHandler), e.stderr)
	if err != nil {
		return err
	}
	defer t.close()
	var st ops.Status
	if t.set != nil {
		st.Instance = "offline: " + o.Data
		if st.Projections, err = t.set.Status(ctx); err != nil {
			return err
		}
	} else if err := t.request("status", struct{}{}, &st); err != nil {
		return err
	}
	if o.JSON {
		return json.NewEncoder(stdout).Encode(st)
	}
	fmt.Fprintf(stdout, "instance %s\n", st.Instance)
	if st.InstanceKey != "" {
		fmt.Fprintf(stdout, "signing key %s\n", st.InstanceKey)
	}
	fmt.Fprintf(stdout, "\n%-8s %5s %12s %12s %10s %8s\n", "VIEW", "GEN", "APPLIED", "STREAM", "LAG", "PARKED")
	for _, l := range st.Projections {
		fmt.Fprintf(stdout, "%-8s %5d %12d %12d %10d %8d\n", l.Name, l.Generation, l.Applied, l.StreamLast, l.Lag, l.Parked)
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

type rebuildCmd struct {
	opsFlags `embed:""`
	Verify   bool   `name:"verify" help:"Compare a fresh rebuild with the live projection instead of swapping it in."`
	View     string `arg:"" optional:"" default:"all" enum:"${views}" help:"Read model to rebuild: ${views} (default all)."`
}

func (*rebuildCmd) Help() string {
	return `Rebuilds read models from stream sequence 1: hongbao rebuild [` + strings.ReplaceAll(viewNames(), ",", "|") + `].
A running service rebuilds into a new generation while it keeps answering from
the live one, then swaps it in; progress is shown until it is done. With --verify
nothing is swapped: a fresh rebuild is compared with the live projection and every
difference is listed (exit status 1 if there is any). With no service running,
the data directory (--data) is rebuilt in place.`
}

// viewNames lists the read models and "all", comma-separated.
func viewNames() string { return strings.Join(append(slices.Clone(projections.Names), "all"), ",") }

func (c *rebuildCmd) Run(e *runEnv) error {
	ctx, stdout, stderr := e.ctx, e.stdout, e.stderr
	o := &c.opsFlags
	which := c.View
	names := []string{which}
	if which == "all" {
		names = projections.Names
	}
	for _, n := range names {
		if !slices.Contains(projections.Names, n) {
			return usageErrorf("unknown read model %q: want one of %s", n, viewNames())
		}
	}
	t, err := o.connect(ctx, slog.New(slog.DiscardHandler), stderr)
	if err != nil {
		return err
	}
	defer t.close()
	pr := newProgressPrinter(stderr)
	kind := "rebuild"
	if c.Verify {
		kind = "verify"
	}
	var results []projections.VerifyResult
	if t.set != nil {
		for _, n := range names {
			if c.Verify {
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
	return report(stdout, o.JSON, kind, names, results)
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
		return found(fmt.Errorf("the rebuilt read models differ from the live ones: %d rows", diffs))
	}
	return nil
}
