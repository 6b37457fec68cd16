package outbox_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/hongbao/hongbao/projections/outbox"
	"github.com/hongbao/hongbao/projections/projectiontest"
)

// TestDataDriven runs the scripts under testdata/: envelope events, put
// through a real stream and the projector into a real Pebble database,
// and the transfers the outbox then lists for the ledger. Refresh the
// expected output with
//
//	go test ./projections/outbox -run TestDataDriven -rewrite
//
// Commands (events in projectiontest's text form):
//
//	apply                       append the events of the input; the view catches up
//	list [after=SEQ] [limit=N]  outbox.List: transfers in stream order after a sequence
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		env := projectiontest.NewEnv(t)
		view := env.Open(t, projectiontest.Envelopes(outbox.Projection{}))
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			if out, ok := env.Command(t, td, view); ok {
				return out
			}
			switch td.Cmd {
			case "list":
				var after uint64
				limit := 1000
				td.MaybeScanArgs(t, "after", &after)
				td.MaybeScanArgs(t, "limit", &limit)
				trs, err := outbox.List(view.DB, after, limit)
				if err != nil {
					return "error: " + err.Error()
				}
				if len(trs) == 0 {
					return "no transfers"
				}
				var b strings.Builder
				for _, tr := range trs {
					user := ""
					if tr.User != "" {
						user = " user=" + tr.User
					}
					fmt.Fprintf(&b, "%d: %s %s at %s%s\n", tr.Seq, tr.Kind, env.FormatTransfer(tr.Transfer), projectiontest.Time(tr.At), user)
				}
				return strings.TrimSuffix(b.String(), "\n")
			}
			td.Fatalf(t, "unknown command %q", td.Cmd)
			return ""
		})
	})
}
