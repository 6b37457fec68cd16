package reconcile

import (
	"context"
	"errors"
	"fmt"

	"github.com/hongbao/hongbao/ledger"
)

// Repair issues through led the transfer of every repairable
// missing_credit in rep (see Discrepancy.Repairable), under its
// deterministic id, and returns how many it wrote. The ledger's idempotency
// by id makes it safe to run again, or at the same time as the outbox's
// delivery: a transfer already booked is not booked twice and not counted.
// Nothing else is ever repaired: duplicates, orphans, mismatched amounts and
// forged events need a human. A transfer the ledger refuses (e.g. an escrow
// that would go below zero) is skipped and reported in the joined error,
// after the others were tried.
func Repair(ctx context.Context, led *ledger.Ledger, rep Report) (issued int, err error) {
	var errs []error
	for _, d := range rep.Discrepancies {
		if d.Kind != KindMissingCredit || !d.Repairable || d.Transfer == nil {
			continue
		}
		t := *d.Transfer
		if t.ID != d.TransferID || t.EnvelopeID != d.EnvelopeID {
			errs = append(errs, fmt.Errorf("reconcile: repair %s: the report's transfer is %s of envelope %s", d.TransferID, t.ID, t.EnvelopeID))
			continue
		}
		res, err := led.Transfer(ctx, t)
		if err != nil {
			errs = append(errs, fmt.Errorf("reconcile: repair %s: %w", t.ID, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if !res.Duplicate {
			issued++
		}
	}
	return issued, errors.Join(errs...)
}
