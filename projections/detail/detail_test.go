package detail

import (
	"bytes"
	"testing"

	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/projections/projector/rowtest"
)

func TestRows(t *testing.T) {
	rowtest.CheckRow[summary](t)
	rowtest.CheckRow[openRow](t)
}

func TestKeys(t *testing.T) {
	for _, id := range []string{"", "01JQ0000000000000000000000"} {
		if got, want := summaryKey(id), projector.Key("d/e/", id); !bytes.Equal(got, want) {
			t.Errorf("summaryKey(%q) = %q, want %q", id, got, want)
		}
		for _, i := range []int{1, 255, 1 << 20} {
			if got, want := openKey(id, i), projector.Key("d/o/", id, uint32(i)); !bytes.Equal(got, want) {
				t.Errorf("openKey(%q, %d) = %q, want %q", id, i, got, want)
			}
		}
	}
}
