package detail_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/projections/projectiontest"
)

// TestDataDriven runs the scripts under testdata/: envelope events, put
// through a real stream and the projector into a real Pebble database,
// and what hongbao.get answers from the rows. Refresh the expected output
// with
//
//	go test ./projections/detail -run TestDataDriven -rewrite
//
// Commands (events in projectiontest's text form):
//
//	apply                          append the events of the input; the view catches up
//	get env=E1 [cursor=C] [limit=N]  detail.Get: the envelope, a page of its opens, the next cursor
func TestDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		env := projectiontest.NewEnv(t)
		view := env.Open(t, projectiontest.Envelopes(detail.Projection{}))
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			if out, ok := env.Command(t, td, view); ok {
				return out
			}
			switch td.Cmd {
			case "get":
				var name, cursor string
				limit := 20
				td.ScanArgs(t, "env", &name)
				td.MaybeScanArgs(t, "cursor", &cursor)
				td.MaybeScanArgs(t, "limit", &limit)
				from, err := detail.ParseCursor(cursor)
				if err != nil {
					return "error: " + err.Error()
				}
				p, err := detail.Get(view.DB, projectiontest.ID(name), from, limit)
				if errors.Is(err, detail.ErrNotFound) {
					return "not found"
				}
				if err != nil {
					return "error: " + err.Error()
				}
				return formatPage(env.Script, p)
			}
			td.Fatalf(t, "unknown command %q", td.Cmd)
			return ""
		})
	})
}

func formatPage(s *projectiontest.Script, p detail.Page) string {
	e := p.Envelope
	var b strings.Builder
	fmt.Fprintf(&b, "%s by %s: %s %d fen in %d, %s; opened %d for %d; refunded %d\n", s.Name(e.ID), e.Sender, e.Kind, e.Total, e.Count,
		e.Status, e.OpenedCount, e.OpenedTotal, e.Refunded)
	if e.Greeting != "" {
		fmt.Fprintf(&b, "greeting %s\n", e.Greeting)
	}
	fmt.Fprintf(&b, "created %s, expires %s\n", projectiontest.Time(e.CreatedAt), projectiontest.Time(e.ExpiresAt))
	for _, o := range p.Opens {
		best := ""
		if o.BestLuck {
			best = " best-luck"
		}
		fmt.Fprintf(&b, "%d. %s %d at %s%s\n", o.Index, o.User, o.Amount, projectiontest.Time(o.At), best)
	}
	if p.Next != "" {
		fmt.Fprintf(&b, "next %s\n", p.Next)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
