package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/reconcile"
)

// storeConn is an open connection to the streams, for reconcile and
// audit: a running service's NATS server, or, offline, the data directory
// of a stopped service opened with an embedded server.
type storeConn struct {
	js    jetstream.JetStream
	close func()
}

// connectStore follows the connection flags. Reading the streams never
// changes them.
func (c *connFlags) connectStore(ctx context.Context, name string, stderr io.Writer) (*storeConn, error) {
	nc, err := c.dial(name, stderr)
	if err != nil {
		return nil, err
	}
	var closeAll func()
	if nc != nil {
		closeAll = nc.Close
	} else if nc, closeAll, err = c.openEmbedded(ctx, name, stderr); err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		closeAll()
		return nil, err
	}
	return &storeConn{js: js, close: closeAll}, nil
}

type reconcileCmd struct {
	connFlags `embed:""`
	Since     string        `name:"since" placeholder:"TIME" help:"Only envelopes wrapped at or after this RFC 3339 time (their whole histories are still checked)."`
	JSON      bool          `name:"json" help:"Print the report as JSON."`
	Repair    bool          `name:"repair" help:"Issue the missing credits, then reconcile again."`
	Grace     time.Duration `name:"grace" default:"0s" help:"Transfers of events stored less than this ago are in flight, not missing (pass 1m against a running service)."`
}

func (*reconcileCmd) Help() string {
	return `Replays the ENVELOPES stream against the LEDGER stream and proves that no money
is created or lost (invariants I1–I5): every share re-derived from its envelope's
seed, every transfer an event implies booked exactly once with the same amount,
no credit without its event, double entry, escrows at zero once ended. Every
discrepancy is listed with its kind and ids; exit status 1 if there is any.

With --repair, the credits the ledger is missing are issued under their
deterministic ids (idempotent: running it twice issues nothing new), on
envelopes with no sign of forgery or tampering only; then it reconciles again.
Nothing else is ever repaired automatically.

Against a running service, pass --grace 1m: the outbox books transfers a few
milliseconds after their events.`
}

func (c *reconcileCmd) Run(e *runEnv) error {
	ctx, stdout, stderr := e.ctx, e.stdout, e.stderr
	asJSON, repair, grace := &c.JSON, &c.Repair, &c.Grace
	opts := reconcile.Options{Grace: *grace}
	if c.Since != "" {
		t, err := time.Parse(time.RFC3339, c.Since)
		if err != nil {
			return usageErrorf("--since %q: want an RFC 3339 time such as 2026-01-01T00:00:00Z", c.Since)
		}
		opts.Since = t
	}
	if *grace < 0 {
		return usageErrorf("--grace must not be negative")
	}
	sc, err := c.connectStore(ctx, "hongbao-reconcile", stderr)
	if err != nil {
		return err
	}
	defer sc.close()
	opts.Progress = func(p reconcile.Progress) {
		if p.Done {
			return
		}
		fmt.Fprintf(stderr, "reconcile: %d/%d events, %d/%d ledger entries, %s\n",
			p.Events, p.EventsTotal, p.Transfers, p.TransfersTotal, p.Elapsed.Round(time.Second))
	}

	rep, err := reconcile.Run(ctx, sc.js, opts)
	if err != nil {
		return err
	}
	var repairErr error
	if *repair {
		note := stdout
		if *asJSON {
			note = stderr
		} else {
			printReconcile(stdout, rep)
			fmt.Fprintln(stdout)
		}
		missing, repairable := 0, 0
		for _, d := range rep.Discrepancies {
			if d.Kind == reconcile.KindMissingCredit {
				missing++
				if d.Repairable {
					repairable++
				}
			}
		}
		if repairable == 0 {
			fmt.Fprintf(note, "repair: nothing to repair (%d missing credits, none repairable)\n", missing)
			if !*asJSON {
				return reconcileVerdict(rep) // printed above
			}
		} else {
			led, err := openLedgerAsIs(ctx, sc.js)
			if err != nil {
				return err
			}
			var issued int
			issued, repairErr = reconcile.Repair(ctx, led, rep)
			fmt.Fprintf(note, "repair: issued %d compensating transfers for %d repairable of %d missing credits\n", issued, repairable, missing)
			if repairErr != nil {
				fmt.Fprintf(note, "repair: %v\n", repairErr)
			}
			if rep, err = reconcile.Run(ctx, sc.js, opts); err != nil {
				return err
			}
			if !*asJSON {
				fmt.Fprint(stdout, "\nafter the repair:\n\n")
			}
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printReconcile(stdout, rep)
	}
	if err := reconcileVerdict(rep); err != nil {
		return err
	}
	return repairErr
}

func reconcileVerdict(rep reconcile.Report) error {
	if rep.OK() {
		return nil
	}
	return found(fmt.Errorf("invariants broken: %d discrepancies (balanced: %v)", len(rep.Discrepancies), rep.Balanced))
}

// openLedgerAsIs opens the ledger for repairs without changing its stream:
// ledger.Open creates or updates LEDGER, so it is given the stream's own
// replicas, duplicate window and delete policy.
func openLedgerAsIs(ctx context.Context, js jetstream.JetStream) (*ledger.Ledger, error) {
	var cfg ledger.Config
	st, err := js.Stream(ctx, cfg.Topology.LedgerStream(0))
	switch {
	case err == nil:
		c := st.CachedInfo().Config
		cfg.Replicas, cfg.Duplicates, cfg.AllowDeletes = c.Replicas, c.Duplicates, !c.DenyDelete
	case !errors.Is(err, jetstream.ErrStreamNotFound):
		return nil, err
	}
	return ledger.Open(ctx, js, cfg)
}

func printReconcile(w io.Writer, rep reconcile.Report) {
	fmt.Fprintf(w, "reconciled ENVELOPES up to seq %d with LEDGER up to seq %d in %s", rep.EnvelopesSeq, rep.LedgerSeq, rep.Elapsed.Round(time.Millisecond))
	if !rep.Since.IsZero() {
		fmt.Fprintf(w, " (envelopes wrapped since %s)", rep.Since.Format(time.RFC3339))
	}
	fmt.Fprintln(w)
	states := make([]string, 0, len(rep.ByState))
	for s, n := range rep.ByState {
		states = append(states, fmt.Sprintf("%s %d", s, n))
	}
	slices.Sort(states)
	fmt.Fprintf(w, "envelopes  %d (%s)\n", rep.Envelopes, strings.Join(states, ", "))
	fmt.Fprintf(w, "events     %d\n", rep.Events)
	fmt.Fprintf(w, "transfers  %d ledger entries; %d implied by the events", rep.Transfers, rep.Expected)
	if rep.InFlight > 0 {
		fmt.Fprintf(w, ", %d in flight", rep.InFlight)
	}
	fmt.Fprintln(w)
	if rep.LedgerDeleted > 0 {
		fmt.Fprintf(w, "WARNING    %d messages were deleted from inside LEDGER\n", rep.LedgerDeleted)
	}
	m := rep.Money
	fmt.Fprintf(w, "money (fen)\n  paid in           %14d\n  paid out (opens)  %14d\n  refunded          %14d\n  in escrow         %14d\n  external account  %14d\n  wallets           %14d\n  sum of balances   %14d\n",
		m.PaidIn, m.PaidOutOpens, m.Refunded, m.InEscrow, m.External, m.Wallets, m.Sum)
	fmt.Fprintf(w, "balanced   %s\n", rcYesNo(rep.Balanced))
	if len(rep.Discrepancies) == 0 {
		fmt.Fprintln(w, "\nOK: no discrepancies; the money adds up.")
		return
	}
	byKind := rep.CountByKind()
	var kinds []string
	for _, k := range reconcile.Kinds {
		if byKind[k] > 0 {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, byKind[k]))
		}
	}
	fmt.Fprintf(w, "\n%d DISCREPANCIES (%s):\n\n", len(rep.Discrepancies), strings.Join(kinds, ", "))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tINV\tENVELOPE\tTRANSFER\tUSER\tSEQ\tLEDGER SEQ\tWANT\tGOT\tDETAIL")
	for _, d := range rep.Discrepancies {
		detail := d.Detail
		if d.Repairable {
			detail += " [repairable]"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", d.Kind, d.Invariant, rcDash(d.EnvelopeID), rcDash(d.TransferID), rcDash(d.User),
			rcSeq(d.Seq), rcSeq(d.LedgerSeq), d.Want, d.Got, detail)
	}
	tw.Flush()
}

func rcYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func rcDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func rcSeq(seq uint64) string {
	if seq == 0 {
		return "-"
	}
	return fmt.Sprint(seq)
}
