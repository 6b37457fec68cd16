package wallets_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/hongbao/hongbao/projections/projectiontest"
	"github.com/hongbao/hongbao/projections/wallets"
)

// TestDataDriven runs the scripts under testdata/: envelope events, whose
// transfers (outbox.TransfersOf) are delivered to a real ledger on a real
// LEDGER stream, and what hongbao.wallet answers from the wallets view fed
// from it into a real Pebble database. Refresh the expected output with
//
//	go test ./projections/wallets -run TestDataDriven -rewrite
//
// Commands (events in projectiontest's text form):
//
//	apply                               append the events; deliver their transfers; the view catches up
//	redeliver                           deliver every transfer again; the view catches up
//	wallet user=U [cursor=C] [limit=N]  wallets.Wallet: the balance and a page of entries, newest first
//	balances                            wallets.Balances: every account's balance, and their sum
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		env := projectiontest.NewEnv(t)
		env.Deliver = true
		view := env.Open(t, projectiontest.Ledger(wallets.Projection{}))
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			if out, ok := env.Command(t, td, view); ok {
				return out
			}
			var b strings.Builder
			switch td.Cmd {
			case "wallet":
				var user, cursor string
				limit := 20
				td.ScanArgs(t, "user", &user)
				td.MaybeScanArgs(t, "cursor", &cursor)
				td.MaybeScanArgs(t, "limit", &limit)
				p, err := wallets.Wallet(view.DB, user, cursor, limit)
				if err != nil {
					return "error: " + err.Error()
				}
				fmt.Fprintf(&b, "balance %d\n", p.Balance)
				for _, e := range p.Entries {
					fmt.Fprintf(&b, "%s %+d %s %s at %s\n", strings.ReplaceAll(e.TransferID, e.EnvelopeID, env.Script.Name(e.EnvelopeID)),
						e.Amount, e.Kind, env.Script.Name(e.EnvelopeID), projectiontest.Time(e.At))
				}
				if p.Next != "" {
					fmt.Fprintf(&b, "next %s\n", p.Next)
				}
			case "balances":
				var sum int64
				err := wallets.Balances(view.DB, func(account string, balance int64) {
					if id, ok := strings.CutPrefix(account, "escrow:"); ok {
						account = "escrow:" + env.Script.Name(id)
					}
					fmt.Fprintf(&b, "%s %d\n", account, balance)
					sum += balance
				})
				if err != nil {
					return "error: " + err.Error()
				}
				fmt.Fprintf(&b, "sum %d\n", sum)
			default:
				td.Fatalf(t, "unknown command %q", td.Cmd)
			}
			return strings.TrimSuffix(b.String(), "\n")
		})
	})
}
