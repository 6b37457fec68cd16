package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/reconcile"
)

// errDiscrepancies: the money does not add up (exit status 1).
var errDiscrepancies = errors.New("invariants broken")

// storeFlags say where the streams are, for reconcile and audit: the NATS
// server at --nats-url (a running service's), or, when none answers there,
// the data directory of a stopped service opened with an embedded server.
type storeFlags struct{ connFlags }

func (o *storeFlags) register(fs *flag.FlagSet) {
	o.connFlags.register(fs, "NATS server holding the streams; when the default does not answer, --data is opened instead (a URL given explicitly must answer)")
}

// storeConn is an open connection to the streams.
type storeConn struct {
	js    jetstream.JetStream
	where string
	close func()
}

// connect follows the flags. Reading the streams never changes them.
func (o *storeFlags) connect(ctx context.Context, fs *flag.FlagSet) (*storeConn, error) {
	explicit := false
	fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "nats-url" })
	if !o.offline {
		nc, err := nats.Connect(o.natsURL, nats.Name("hongbao-reconcile"), nats.Timeout(2*time.Second))
		switch {
		case err == nil:
			js, err := jetstream.New(nc)
			if err != nil {
				nc.Close()
				return nil, err
			}
			return &storeConn{js: js, where: o.natsURL, close: nc.Close}, nil
		case explicit:
			// Never fall back silently: an empty data directory would
			// "prove" that nothing is wrong.
			return nil, fmt.Errorf("connect %s: %w", o.natsURL, err)
		}
	}
	store := filepath.Clean(o.data)
	if _, err := os.Stat(filepath.Join(store, "jetstream")); err != nil {
		return nil, fmt.Errorf("no JetStream store under %s (and no NATS server at %s): %w", store, o.natsURL, err)
	}
	nc, closeAll, err := o.openEmbedded(ctx, "hongbao-reconcile")
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		closeAll()
		return nil, err
	}
	return &storeConn{js: js, where: "embedded server on " + store, close: closeAll}, nil
}

const reconcileSynopsis = `Replays the ENVELOPES stream against the LEDGER stream and proves that no money
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

func runReconcile(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("reconcile", reconcileSynopsis, stderr)
	var conn storeFlags
	conn.register(fs)
	since := fs.String("since", "", "only envelopes wrapped at or after this RFC 3339 time (their whole histories are still checked)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	repair := fs.Bool("repair", false, "issue the missing credits, then reconcile again")
	grace := fs.Duration("grace", 0, "transfers of events stored less than this ago are in flight, not missing")
	if err := parse(fs, args); err != nil {
		return err
	}
	opts := reconcile.Options{Grace: *grace}
	if *since != "" {
		t, err := time.Parse(time.RFC3339, *since)
		if err != nil {
			return fmt.Errorf("%w: --since: %v", errUsage, err)
		}
		opts.Since = t
	}
	if *grace < 0 {
		return fmt.Errorf("%w: --grace must not be negative", errUsage)
	}
	sc, err := conn.connect(ctx, fs)
	if err != nil {
		return err
	}
	defer sc.close()
	fmt.Fprintf(stderr, "reconcile: reading the streams on %s\n", sc.where)
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
	return fmt.Errorf("%w: %d discrepancies (balanced: %v)", errDiscrepancies, len(rep.Discrepancies), rep.Balanced)
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
