package reconcile

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/topology"
)

// The discrepancy kinds.
const (
	// KindShareNotDerivable (I2): an Opened whose amount is not what the
	// split derives from the seed, or is outside [min_share, max_share].
	KindShareNotDerivable = "share_not_derivable"
	// KindOverIssue (I1/I3): an Opened beyond count, out of index order,
	// with inconsistent remaining fields, while not live, or taking
	// Σ opened + refund above the total.
	KindOverIssue = "over_issue"
	// KindDuplicateOpen (I3): a user opening the same envelope twice.
	KindDuplicateOpen = "duplicate_open"
	// KindRefundMismatch (I1): an Expired whose refund is not
	// total − Σ opened; a finished or expired envelope whose
	// Σ opened + refund is not the total.
	KindRefundMismatch = "refund_mismatch"
	// KindInvalidHistory (I1): an event that cannot follow its envelope's
	// history: of another envelope than its subject, before
	// the Wrapped, out of lifecycle order, or a payment of another amount
	// than the total.
	KindInvalidHistory = "invalid_history"
	// KindMissingCredit (I4): a transfer an event implies that the ledger
	// does not hold.
	KindMissingCredit = "missing_credit"
	// KindAmountMismatch (I4): a ledger entry with an expected id but
	// another amount, kind or accounts.
	KindAmountMismatch = "amount_mismatch"
	// KindDuplicateCredit (I4): an expected transfer booked twice: under
	// another id with the same envelope, kind, credit account and amount,
	// or the same id twice.
	KindDuplicateCredit = "duplicate_credit"
	// KindOrphanTransfer (I4): any other ledger entry no event implies.
	KindOrphanTransfer = "orphan_transfer"
	// KindEscrowNotZero (I5): a finished, expired or cancelled envelope
	// whose escrow is not 0, or a live one whose escrow is not what its
	// transfers leave (judged only when all of them are booked).
	KindEscrowNotZero = "escrow_not_zero"
	// KindUnbalanced (I5): the balances do not sum to zero, or a ledger
	// entry is not a valid double-entry transfer, takes its escrow below
	// zero, or records another escrow balance than the entries before it
	// give.
	KindUnbalanced = "unbalanced"
	// KindMalformedEvent (I1 on ENVELOPES, I5 on LEDGER): a message that
	// does not decode as an event or ledger entry. Nothing folds it: the
	// service answers its envelope "corrupt", the views park it.
	KindMalformedEvent = "malformed_event"
	// KindForgedEvent (I1/I5): a message whose chain link or signature
	// does not verify: written around the service, so never credited.
	KindForgedEvent = "forged_event"
)

// Kinds lists every discrepancy kind.
var Kinds = []string{
	KindShareNotDerivable, KindOverIssue, KindDuplicateOpen, KindRefundMismatch, KindInvalidHistory,
	KindMissingCredit, KindAmountMismatch, KindDuplicateCredit, KindOrphanTransfer,
	KindEscrowNotZero, KindUnbalanced, KindMalformedEvent, KindForgedEvent,
}

// DefaultGrace is the Periodic runner's grace for transfers in flight.
const DefaultGrace = time.Minute

// Options of a run. The zero value reconciles everything on the default
// streams.
type Options struct {
	// Since, when not zero, limits the checks to envelopes wrapped at or
	// after it (by the Wrapped event's time); their whole histories are
	// still read and checked. Ledger entries of envelopes with no events
	// at all are always checked.
	Since time.Time
	// Grace: transfers implied by events stored less than Grace before the
	// run started are in flight (the outbox delivers them asynchronously):
	// not yet missing. Zero judges everything (the right setting when the
	// service is stopped).
	Grace time.Duration
	// Topology names the streams and subjects; the zero value is today's
	// (ENVELOPES, LEDGER).
	Topology topology.Topology
	// Progress, when set, is called about once a second while the streams
	// are read, and once at the end, from one goroutine at a time.
	Progress func(Progress)
	// Policy verifies every event and entry (internal/seal): one that does
	// not verify is a forged_event and is not folded. nil: Run reads it
	// from the keys bucket (none there: nothing verified).
	Policy *seal.Policy
}

func (o *Options) defaults() {
	o.Topology = o.Topology.WithDefaults()
}

// Progress of a run: messages read so far and the streams' message counts
// at the start.
type Progress struct {
	Events, EventsTotal       uint64
	Transfers, TransfersTotal uint64
	Elapsed                   time.Duration
	Done                      bool // the last call: reading and checking are over
}

// Discrepancy is one broken invariant.
type Discrepancy struct {
	Kind       string `json:"kind"`
	Invariant  string `json:"invariant"` // "I1" … "I5"
	EnvelopeID string `json:"envelope_id,omitempty"`
	TransferID string `json:"transfer_id,omitempty"`
	User       string `json:"user,omitempty"`
	// Seq is the ENVELOPES sequence of the event concerned, LedgerSeq the
	// LEDGER sequence of the entry concerned (0: none).
	Seq       uint64 `json:"seq,omitempty"`
	LedgerSeq uint64 `json:"ledger_seq,omitempty"`
	Detail    string `json:"detail"`
	Want      int64  `json:"want"`
	Got       int64  `json:"got"`
	// Transfer is, for a missing_credit, the transfer the event implies.
	Transfer *ledger.Transfer `json:"transfer,omitempty"`
	// Repairable marks a missing_credit that Repair issues: its envelope
	// shows no other sign of forgery or ledger tampering (no event-level
	// discrepancy, no amount_mismatch, duplicate_credit or orphan_transfer).
	Repairable bool `json:"repairable,omitempty"`
}

func (d Discrepancy) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s (%s)", d.Kind, d.Invariant)
	if d.EnvelopeID != "" {
		fmt.Fprintf(&b, " envelope %s", d.EnvelopeID)
	}
	if d.TransferID != "" {
		fmt.Fprintf(&b, " transfer %s", d.TransferID)
	}
	if d.User != "" {
		fmt.Fprintf(&b, " user %s", d.User)
	}
	if d.Seq != 0 {
		fmt.Fprintf(&b, " seq %d", d.Seq)
	}
	if d.LedgerSeq != 0 {
		fmt.Fprintf(&b, " ledger seq %d", d.LedgerSeq)
	}
	fmt.Fprintf(&b, ": %s", d.Detail)
	return b.String()
}

// Money sums the ledger in fen. For a clean ledger
// PaidIn = PaidOutOpens + Refunded + InEscrow and External = −PaidIn.
// All but Sum cover the envelopes checked; Sum covers the whole ledger.
type Money struct {
	PaidIn       int64 `json:"paid_in"`        // Σ fund transfers
	PaidOutOpens int64 `json:"paid_out_opens"` // Σ open transfers
	Refunded     int64 `json:"refunded"`       // Σ refund transfers
	InEscrow     int64 `json:"in_escrow"`      // Σ escrow balances
	External     int64 `json:"external"`       // the payment system's balance
	Wallets      int64 `json:"wallets"`        // Σ wallet balances
	Sum          int64 `json:"sum_of_balances"`
}

// Report is the outcome of a run.
type Report struct {
	At      time.Time     `json:"at"` // when the run started
	Since   time.Time     `json:"since,omitzero"`
	Elapsed time.Duration `json:"elapsed_ns"`
	// The snapshot: the streams' last sequences at the start.
	EnvelopesSeq uint64 `json:"envelopes_seq"`
	LedgerSeq    uint64 `json:"ledger_seq"`
	// LedgerDeleted counts messages deleted from inside LEDGER (the
	// ledger is append-only: anything but 0 is worth a look).
	LedgerDeleted uint64 `json:"ledger_deleted,omitempty"`

	Envelopes int            `json:"envelopes"`          // envelopes checked (with at least one event)
	Events    int            `json:"events"`             // their events
	Transfers int            `json:"transfers"`          // ledger entries checked
	Expected  int            `json:"expected_transfers"` // transfers the events imply
	InFlight  int            `json:"in_flight,omitempty"`
	ByState   map[string]int `json:"by_state"`
	Money     Money          `json:"money"`
	// Balanced: the balances sum to zero and every entry is a valid
	// double-entry transfer that keeps its escrow at or above zero.
	Balanced      bool          `json:"balanced"`
	Discrepancies []Discrepancy `json:"discrepancies"`
}

// OK reports a clean run: balanced, and no discrepancy.
func (r Report) OK() bool { return r.Balanced && len(r.Discrepancies) == 0 }

// CountByKind counts the discrepancies of each kind.
func (r Report) CountByKind() map[string]int {
	out := map[string]int{}
	for _, d := range r.Discrepancies {
		out[d.Kind]++
	}
	return out
}

// Run reconciles the streams; see the package documentation. An error
// means the run could not be completed (streams unreachable, ctx ended);
// broken invariants are reported in the Report, not as errors.
func Run(ctx context.Context, js jetstream.JetStream, opts Options) (Report, error) {
	opts.defaults()
	if opts.Policy == nil {
		var err error
		if opts.Policy, err = seal.LoadPolicy(ctx, js, opts.Topology.KeysBucket()); err != nil {
			return Report{}, fmt.Errorf("reconcile: %w", err)
		}
	}
	start := time.Now()
	rep := Report{At: start.UTC(), Since: opts.Since, ByState: map[string]int{}, Discrepancies: []Discrepancy{}}
	cutoff := time.Time{}
	if opts.Grace > 0 {
		cutoff = start.Add(-opts.Grace)
	}

	// The snapshot: LEDGER first, then ENVELOPES, so that every entry read
	// follows an event read (the outbox books transfers after their
	// events are stored).
	// One partition (topology.Partitions): one stream of each.
	envStream, ledStream := opts.Topology.EnvelopeStream(0), opts.Topology.LedgerStream(0)
	ledSnap, err := snapshot(ctx, js, ledStream)
	if err != nil {
		return rep, err
	}
	envSnap, err := snapshot(ctx, js, envStream)
	if err != nil {
		return rep, err
	}
	rep.LedgerSeq, rep.EnvelopesSeq, rep.LedgerDeleted = ledSnap.last, envSnap.last, ledSnap.deleted

	var evRead, trRead atomic.Uint64
	stopProgress := startProgress(opts.Progress, start, &evRead, envSnap.msgs, &trRead, ledSnap.msgs)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	envs := map[string]*envState{}
	var (
		wg      sync.WaitGroup
		ledErr  error
		entries = map[string][]ledgerEntry{}
		// accounts holds every account's balance over the whole ledger.
		accounts = map[string]int64{}
	)
	wg.Go(func() {
		ledErr = scan(ctx, js, ledStream, ledSnap, entryDecoder(opts.Topology, opts.Policy), func(batch []ledgerEntry) {
			for _, e := range batch {
				entries[e.key] = append(entries[e.key], e)
				if e.err == nil {
					accounts[e.ent.Debit] -= e.ent.Amount
					accounts[e.ent.Credit] += e.ent.Amount
				}
			}
			trRead.Add(uint64(len(batch)))
		})
		if ledErr != nil {
			cancel()
		}
	})
	envErr := scan(ctx, js, envStream, envSnap, eventDecoder(opts.Policy, envStream), func(batch []eventItem) {
		for i := range batch {
			it := &batch[i]
			s := envs[it.envelope]
			if s == nil {
				s = newEnvState(it.envelope)
				envs[it.envelope] = s
			}
			s.apply(it, cutoff)
		}
		evRead.Add(uint64(len(batch)))
	})
	if envErr != nil {
		cancel()
	}
	wg.Wait()
	if err := errors.Join(envErr, ledErr); err != nil {
		stopProgress(false)
		return rep, err
	}

	ids := make([]string, 0, len(envs)+len(entries))
	for id := range envs {
		ids = append(ids, id)
	}
	for id := range entries {
		if envs[id] == nil {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		s := envs[id]
		if s == nil {
			s = newEnvState(id)
		}
		if !opts.Since.IsZero() && s.wrapped && s.wrappedAt.Before(opts.Since) {
			continue
		}
		s.finish()
		c := checkEnvelope(s, entries[id], &rep.Money)
		rep.Discrepancies = append(rep.Discrepancies, c.disc...)
		rep.Transfers += len(entries[id])
		rep.Expected += len(c.expected)
		rep.InFlight += c.inFlight
		if s.events > 0 {
			rep.Envelopes++
			rep.Events += s.events
			rep.ByState[s.status.String()]++
		}
	}

	for _, bal := range accounts {
		rep.Money.Sum += bal
	}
	if rep.Money.Sum != 0 {
		rep.Discrepancies = append(rep.Discrepancies, Discrepancy{Kind: KindUnbalanced, Invariant: "I5",
			Detail: fmt.Sprintf("the balances of all %d accounts sum to %d, not 0", len(accounts), rep.Money.Sum), Got: rep.Money.Sum})
	}
	if out := rep.Money.PaidOutOpens + rep.Money.Refunded + rep.Money.InEscrow; out != rep.Money.PaidIn {
		rep.Discrepancies = append(rep.Discrepancies, Discrepancy{Kind: KindUnbalanced, Invariant: "I5",
			Detail: fmt.Sprintf("paid in %d but paid out %d + refunded %d + in escrow %d = %d",
				rep.Money.PaidIn, rep.Money.PaidOutOpens, rep.Money.Refunded, rep.Money.InEscrow, out),
			Want: rep.Money.PaidIn, Got: out})
	}
	rep.Balanced = true
	for _, d := range rep.Discrepancies {
		if d.Kind == KindUnbalanced {
			rep.Balanced = false
			break
		}
	}
	sortDiscrepancies(rep.Discrepancies)
	rep.Elapsed = time.Since(start)
	stopProgress(true)
	return rep, nil
}

func sortDiscrepancies(ds []Discrepancy) {
	slices.SortStableFunc(ds, func(a, b Discrepancy) int {
		return cmp.Or(strings.Compare(a.EnvelopeID, b.EnvelopeID), strings.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Seq, b.Seq), cmp.Compare(a.LedgerSeq, b.LedgerSeq), strings.Compare(a.TransferID, b.TransferID))
	})
}

// startProgress calls report about once a second until the returned stop
// is called; stop makes the last call (done says whether the run ended
// well) and waits for the reporter to finish.
func startProgress(report func(Progress), start time.Time, ev *atomic.Uint64, evTotal uint64, tr *atomic.Uint64, trTotal uint64) (stop func(done bool)) {
	if report == nil {
		return func(bool) {}
	}
	now := func(done bool) Progress {
		return Progress{Events: ev.Load(), EventsTotal: evTotal, Transfers: tr.Load(), TransfersTotal: trTotal,
			Elapsed: time.Since(start), Done: done}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				report(now(false))
			}
		}
	})
	return func(done bool) {
		close(quit)
		wg.Wait()
		if done {
			report(now(true))
		}
	}
}

// MarshalJSON is implemented so that a nil ByState or Discrepancies still
// encodes as an empty object or list.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	if r.ByState == nil {
		r.ByState = map[string]int{}
	}
	if r.Discrepancies == nil {
		r.Discrepancies = []Discrepancy{}
	}
	return json.Marshal(plain(r))
}

// envelopeOf returns the envelope id at the end of a subject
// (envelope.<id>, ledger.escrow.<id>).
func envelopeOf(subject string) string {
	return subject[strings.LastIndexByte(subject, '.')+1:]
}
