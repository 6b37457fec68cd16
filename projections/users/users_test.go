package users

import (
	"bytes"
	"testing"

	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/projections/projector/rowtest"
)

func TestRows(t *testing.T) {
	rowtest.CheckRow[helper](t)
	rowtest.CheckRow[received](t)
	rowtest.CheckRow[sent](t)
	rowtest.CheckRow[totals](t)
}

func TestKeys(t *testing.T) {
	if got, want := helperKey("01JQ"), projector.Key("u/x/", "01JQ"); !bytes.Equal(got, want) {
		t.Errorf("helperKey = %q, want %q", got, want)
	}
	for _, list := range []string{"r", "s"} {
		for _, year := range []int{2026, 2027, 65535} {
			for _, seq := range []uint64{1, 1 << 40} {
				if got, want := itemKey(list, "user07", year, seq), projector.Key("u/", list, "/", "user07", "/", uint16(year), ^seq); !bytes.Equal(got, want) {
					t.Errorf("itemKey = %q, want %q", got, want)
				}
			}
			if got, want := listPrefix(list, "user07", year), projector.Key("u/", list, "/", "user07", "/", uint16(year)); !bytes.Equal(got, want) {
				t.Errorf("listPrefix = %q, want %q", got, want)
			}
			if got, want := totalsKey(list, "user07", year), projector.Key("u/t", list, "/", "user07", "/", uint16(year)); !bytes.Equal(got, want) {
				t.Errorf("totalsKey = %q, want %q", got, want)
			}
		}
	}
}
