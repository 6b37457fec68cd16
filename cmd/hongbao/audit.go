package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/ledger"
	"github.com/hongbao/hongbao/reconcile"
	"github.com/hongbao/hongbao/topology"
)

type auditCmd struct {
	connFlags `embed:""`
	JSON      bool   `name:"json" help:"Print the audit as JSON."`
	ID        string `arg:"" name:"envelope_id" help:"The envelope's id (a canonical ULID)."`
}

func (*auditCmd) Help() string {
	return `Explains one envelope: hongbao audit <envelope_id> [flags].
Prints its whole history (stream sequence, time, event, user, amount, what is
left after it) with the ledger transfers each event implies beside it, every
share re-derived from the envelope's seed (derived vs recorded), the ledger
entries no event implies, and a verdict on invariants I1–I5. Exit status 1 if
the envelope breaks one.`
}

func (c *auditCmd) Run(e *runEnv) error {
	ctx, stdout, id := e.ctx, e.stdout, c.ID
	asJSON := &c.JSON
	if !api.ValidEnvelopeID(id) {
		return usageErrorf("%q is not an envelope id (a canonical ULID: 26 upper-case Crockford base32 characters)", id)
	}
	sc, err := c.connectStore(ctx, "hongbao-audit", e.stderr)
	if err != nil {
		return err
	}
	defer sc.close()
	a, err := reconcile.Audit(ctx, sc.js, topology.Default(), id)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(a); err != nil {
			return err
		}
	} else {
		printAudit(stdout, a)
	}
	if !a.OK {
		return found(fmt.Errorf("envelope %s breaks invariants: %d discrepancies", id, len(a.Discrepancies)))
	}
	return nil
}

func printAudit(w io.Writer, a reconcile.AuditReport) {
	fmt.Fprintf(w, "envelope %s: %s, %d shares of [%d, %d] fen, total %d fen, sender %s\n",
		a.EnvelopeID, rcDash(a.Kind), a.Count, a.MinShare, a.MaxShare, a.Total, rcDash(a.Sender))
	fmt.Fprintf(w, "state %s: %d opens, %d fen opened, %d fen refunded; escrow (escrow:%s) balance %d fen\n\n",
		a.State, a.Opens, a.Opened, a.Refunded, a.EnvelopeID, a.Escrow)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tEVENT\tUSER\tAMOUNT\tDERIVED\tINDEX\tLEFT\tLEDGER TRANSFERS")
	for _, r := range a.History {
		at := "-"
		if !r.At.IsZero() {
			at = r.At.UTC().Format("2006-01-02T15:04:05.000Z")
		}
		derived := ""
		if r.Derived != nil {
			derived = fmt.Sprint(*r.Derived)
			if *r.Derived != r.Amount {
				derived += " ≠"
			}
		}
		amount, index := "", ""
		if r.Amount != 0 {
			amount = fmt.Sprint(r.Amount)
		}
		if r.Index != 0 {
			index = fmt.Sprint(r.Index)
		}
		lines := auditTransferLines(a.EnvelopeID, r.Transfers)
		if len(r.Problems) > 0 {
			lines = append(lines, "!! "+strings.Join(r.Problems, ", "))
		}
		first := ""
		if len(lines) > 0 {
			first = lines[0]
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", r.Seq, at, r.Type, r.User, amount, derived, index,
			r.RemainingAmount, r.RemainingCount, first)
		for _, l := range lines[min(1, len(lines)):] {
			fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t%s\n", l)
		}
	}
	tw.Flush()

	if len(a.Other) > 0 {
		fmt.Fprintln(w, "\nledger entries no event implies:")
		for _, e := range a.Other {
			fmt.Fprintf(w, "  %s\n", auditEntryLine(a.EnvelopeID, e))
		}
	}

	fmt.Fprintln(w, "\nverdict:")
	for _, v := range a.Invariants {
		state := "ok"
		if !v.OK {
			state = "BROKEN (" + strings.Join(v.Kinds, ", ") + ")"
		}
		fmt.Fprintf(w, "  %s  %-40s %s\n", v.Invariant, state, v.Statement)
	}
	if len(a.Discrepancies) == 0 {
		fmt.Fprintln(w, "\nOK: the envelope keeps every invariant.")
		return
	}
	fmt.Fprintf(w, "\n%d DISCREPANCIES:\n", len(a.Discrepancies))
	for _, d := range a.Discrepancies {
		fmt.Fprintf(w, "  %s\n", d)
	}
}

// auditTransferLines shows each transfer an event implies with the entries
// that book it (ledger sequence first).
func auditTransferLines(id string, ts []reconcile.AuditTransfer) []string {
	var out []string
	for _, t := range ts {
		if len(t.Booked) == 0 {
			out = append(out, fmt.Sprintf("MISSING %s %s → %s %d", t.ID, shortAccount(id, t.Debit), shortAccount(id, t.Credit), t.Amount))
			continue
		}
		for _, e := range t.Booked {
			out = append(out, auditEntryLine(id, e))
		}
	}
	return out
}

// shortAccount writes the audited envelope's own escrow as "escrow".
func shortAccount(id, account string) string {
	if account == ledger.EscrowAccount(id) {
		return "escrow"
	}
	return account
}

func auditEntryLine(id string, e reconcile.AuditEntry) string {
	if e.Error != "" {
		return fmt.Sprintf("#%d undecodable entry: %s", e.LedgerSeq, e.Error)
	}
	s := fmt.Sprintf("#%d %s %s → %s %d, escrow after %d, booked %s", e.LedgerSeq, e.ID, shortAccount(id, e.Debit), shortAccount(id, e.Credit),
		e.Amount, e.EscrowBalance, e.Stored.UTC().Format(time.RFC3339))
	if e.Problem != "" {
		s += " !! " + e.Problem
	}
	return s
}
