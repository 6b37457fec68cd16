package outbox

import (
	"bytes"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/projections/projector"
)

func TestKeys(t *testing.T) {
	for _, c := range []struct{ got, want []byte }{
		{senderKey("01JQ"), projector.Key("o/s/", "01JQ")},
		{queueKey(1 << 33), projector.Key("o/q/", uint64(1<<33))},
	} {
		if !bytes.Equal(c.got, c.want) {
			t.Errorf("key %q, want %q", c.got, c.want)
		}
	}
}

// rowOf is the row Apply writes for rec (sender: the envelope's).
func rowOf(rec events.Record, sender string) []byte {
	id, at := rec.Event.EnvelopeID, rec.Event.At
	switch d := rec.Event.Data.(type) {
	case events.Paid:
		return appendRow(tagFund, id, 0, "", d.Amount, at)
	case events.Opened:
		return appendRow(tagOpen, id, d.Index, d.User, d.Amount, at)
	case events.Expired:
		return appendRow(tagRefund, id, 0, sender, d.Refund, at)
	}
	return nil
}

func same(a, b Transfer) bool {
	return a.ID == b.ID && a.Kind == b.Kind && a.EnvelopeID == b.EnvelopeID && a.Debit == b.Debit &&
		a.Credit == b.Credit && a.Amount == b.Amount && a.At.Equal(b.At) && a.At.Location() == time.UTC &&
		a.User == b.User && a.Seq == b.Seq
}

// TestRowRoundTrip: a stored row reads back as exactly the transfer its
// event implies, for random events with extreme fields.
func TestRowRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	strs := []string{"", "a", "01JQ0000000000000000000000", "恭喜发财", "\xff\x00", string(make([]byte, 300))}
	ints := []int64{0, 1, 127, 128, -1, math.MaxInt64, math.MinInt64, 1 << 40}
	for i := range 20000 {
		at := time.Unix(rng.Int64N(1<<40)-1<<39, rng.Int64N(1e9)).In(time.FixedZone("", 3600*(rng.IntN(25)-12)))
		if i%7 == 0 {
			at = time.Time{}
		}
		ev := events.Event{EnvelopeID: strs[rng.IntN(len(strs))], At: at}
		amount := ints[rng.IntN(len(ints))]
		switch rng.IntN(3) {
		case 0:
			ev.Data = events.Paid{Amount: amount}
		case 1:
			ev.Data = events.Opened{Index: rng.IntN(1 << 31), User: strs[rng.IntN(len(strs))], Amount: amount}
		case 2:
			ev.Data = events.Expired{Refund: amount | 1}
		}
		rec := events.Record{Seq: rng.Uint64(), Event: ev}
		sender := strs[rng.IntN(len(strs))]
		want, ok := transferOf(rec, sender)
		if !ok {
			t.Fatalf("%+v implies no transfer", rec)
		}
		got, err := decodeRow(rowOf(rec, sender), rec.Seq)
		if err != nil {
			t.Fatalf("%+v: %v", rec, err)
		}
		if !same(got, want) {
			t.Fatalf("read back\n%+v\nwant\n%+v", got, want)
		}
	}
}

// TestCorruptRows: every truncation of a row, and rows with an unknown tag,
// trailing bytes or an impossible field, are ErrCorruptRow, not a transfer.
func TestCorruptRows(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 5, time.UTC)
	row := appendRow(tagOpen, "01JQ", 3, "bob", 61, at)
	bad := [][]byte{
		append(bytes.Clone(row), 0),
		append([]byte{'x'}, row[1:]...),
		appendRow(tagFund, "01JQ", 0, "", 61, time.Time{})[:1],
	}
	for n := range len(row) {
		bad = append(bad, row[:n])
	}
	nsec := append([]byte{tagFund, 1, 'a', 2, 0}, 0xff, 0xff, 0xff, 0xff, 0x0f) // 2^32-1 ns
	bad = append(bad, nsec)
	for _, b := range bad {
		if tr, err := decodeRow(b, 9); !errors.Is(err, projector.ErrCorruptRow) {
			t.Errorf("% x: %+v, %v; want ErrCorruptRow", b, tr, err)
		}
	}
}

// FuzzDecodeRow: no input panics; what decodes is a transfer whose own row
// decodes to it again.
func FuzzDecodeRow(f *testing.F) {
	f.Add(appendRow(tagOpen, "01JQ", 3, "bob", 61, time.Unix(1, 2)))
	f.Add(appendRow(tagRefund, "01JQ", 0, "alice", 1, time.Unix(-5, 0)))
	f.Add(appendRow(tagFund, "", 0, "", math.MinInt64, time.Time{}))
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := decodeRow(b, 7)
		if err != nil {
			return
		}
		tag := map[string]byte{"fund": tagFund, "open": tagOpen, "refund": tagRefund}[tr.Kind]
		var index int
		if tag == tagOpen {
			index = indexOf(t, tr.ID)
		}
		again, err := decodeRow(appendRow(tag, tr.EnvelopeID, index, tr.User, tr.Amount, tr.At), 7)
		if err != nil || !same(again, tr) {
			t.Fatalf("% x decodes to %+v, whose row decodes to %+v, %v", b, tr, again, err)
		}
	})
}

func indexOf(t *testing.T, id string) int {
	i := bytes.LastIndexByte([]byte(id), ':')
	n := 0
	for _, c := range id[i+1:] {
		if c < '0' || c > '9' {
			t.Fatalf("open id %q", id)
		}
		n = n*10 + int(c-'0')
	}
	return n
}
