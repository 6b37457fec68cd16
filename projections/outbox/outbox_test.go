package outbox

import (
	"bytes"
	"testing"

	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/projections/projector/rowtest"
)

func TestRowsJSON(t *testing.T) {
	if !transferFieldsKnown {
		t.Fatal("ledger.Transfer changed: bring Transfer.AppendJSON and transferFieldsKnown up to date")
	}
	rowtest.CheckJSON[Transfer](t)
}

func TestKeys(t *testing.T) {
	for _, c := range []struct{ got, want []byte }{
		{senderKey("01JQ"), projector.Key("o/s/", "01JQ")},
		{transferKey("open:01JQ:3"), projector.Key("o/t/", "open:01JQ:3")},
		{queueKey(1 << 33), projector.Key("o/q/", uint64(1<<33))},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("key %q, want %q", c.got, c.want)
		}
	}
}
