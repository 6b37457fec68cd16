package projectiontest

import (
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestScript runs testdata/events: the text form itself, what it derives
// and what it refuses. Refresh with
//
//	go test ./projections/projectiontest -run TestScript -rewrite
//
// Command:
//
//	parse   the events of the input, printed in full, or the error (the
//	        script's state goes on from the events that parsed)
func TestScript(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		s := NewScript()
		datadriven.RunTest(t, path, func(t *testing.T, td *datadriven.TestData) string {
			if td.Cmd != "parse" {
				td.Fatalf(t, "unknown command %q", td.Cmd)
			}
			evs, err := s.Parse(td.Input)
			if err != nil {
				return "error: " + err.Error()
			}
			var b strings.Builder
			for _, ev := range evs {
				b.WriteString(s.Format(ev) + "\n")
			}
			return b.String()
		})
	})
}
