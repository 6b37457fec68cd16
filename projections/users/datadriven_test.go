package users_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/hongbao/hongbao/projections/projectiontest"
	"github.com/hongbao/hongbao/projections/users"
)

// TestDataDriven runs the scripts under testdata/: envelope events, put
// through a real stream and the projector into a real Pebble database,
// and what hongbao.user.received and hongbao.user.sent answer from the
// rows. Refresh the expected output with
//
//	go test ./projections/users -run TestDataDriven -rewrite
//
// Commands (events in projectiontest's text form):
//
//	apply                                           append the events of the input; the view catches up
//	received user=U year=Y [cursor=C] [limit=N]     users.ReceivedList: a page, newest first, and the year's totals
//	sent user=U year=Y [cursor=C] [limit=N]         users.SentList, alike
//	year at=T                                       users.Year: the year of an instant in China
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		env := projectiontest.NewEnv(t)
		view := env.Open(t, projectiontest.Envelopes(users.Projection{}))
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			if out, ok := env.Command(t, td, view); ok {
				return out
			}
			var user, cursor string
			var year int
			limit := 20
			switch td.Cmd {
			case "received", "sent":
				td.ScanArgs(t, "user", &user)
				td.ScanArgs(t, "year", &year)
				td.MaybeScanArgs(t, "cursor", &cursor)
				td.MaybeScanArgs(t, "limit", &limit)
			}
			var b strings.Builder
			switch td.Cmd {
			case "received":
				p, err := users.ReceivedList(view.DB, user, year, cursor, limit)
				if err != nil {
					return "error: " + err.Error()
				}
				for _, it := range p.Items {
					best := ""
					if it.BestLuck {
						best = " best-luck"
					}
					fmt.Fprintf(&b, "%s from %s: %d at %s%s\n", env.Script.Name(it.EnvelopeID), it.Sender, it.Amount, projectiontest.Time(it.At), best)
				}
				return finish(&b, p.Next, p.Totals)
			case "sent":
				p, err := users.SentList(view.DB, user, year, cursor, limit)
				if err != nil {
					return "error: " + err.Error()
				}
				for _, it := range p.Items {
					fmt.Fprintf(&b, "%s: %s %d fen in %d, %s; opened %d; refunded %d; paid at %s\n", env.Script.Name(it.EnvelopeID),
						it.Kind, it.Total, it.Count, it.Status, it.OpenedCount, it.Refunded, projectiontest.Time(it.At))
				}
				return finish(&b, p.Next, p.Totals)
			case "year":
				var at string
				td.ScanArgs(t, "at", &at)
				tm, err := time.Parse(time.RFC3339Nano, at)
				if err != nil {
					td.Fatalf(t, "at: %v", err)
				}
				return fmt.Sprintf("%d (%s in China)", users.Year(tm), tm.In(users.China).Format("2006-01-02 15:04:05"))
			}
			td.Fatalf(t, "unknown command %q", td.Cmd)
			return ""
		})
	})
}

func finish(b *strings.Builder, next string, t users.Totals) string {
	if next != "" {
		fmt.Fprintf(b, "next %s\n", next)
	}
	fmt.Fprintf(b, "totals: count=%d amount=%d best-luck=%d", t.Count, t.Amount, t.BestLuckCount)
	return b.String()
}
