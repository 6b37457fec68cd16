package outbox

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/ledger"
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
	f, _ := factsOf(rec.Event)
	if f.kind == ledger.KindRefund {
		f.user = sender
	}
	return f.appendRow()
}

// want is the transfer an event implies, spelled out here apart from the
// code under test.
func want(rec events.Record, sender string) Transfer {
	env := rec.Event.EnvelopeID
	t := Transfer{Seq: rec.Seq, Transfer: ledger.Transfer{EnvelopeID: env, At: rec.Event.At, Debit: "escrow:" + env}}
	switch d := rec.Event.Data.(type) {
	case events.Paid:
		t.ID, t.Kind, t.Amount, t.Debit, t.Credit = "fund:"+env, "fund", d.Amount, "external", "escrow:"+env
	case events.Opened:
		t.ID, t.Kind, t.Amount, t.Credit, t.User = fmt.Sprintf("open:%s:%d", env, d.Index), "open", d.Amount, "wallet:"+d.User, d.User
	case events.Expired:
		t.ID, t.Kind, t.Amount, t.Credit, t.User = "refund:"+env, "refund", d.Refund, "wallet:"+sender, sender
	}
	return t
}

func same(a, b Transfer) bool {
	return a.ID == b.ID && a.Kind == b.Kind && a.EnvelopeID == b.EnvelopeID && a.Debit == b.Debit &&
		a.Credit == b.Credit && a.Amount == b.Amount && a.At.Equal(b.At) && a.User == b.User && a.Seq == b.Seq
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
		w := want(rec, sender)
		implied, ok := transferOf(rec, sender)
		if !ok || !same(implied, w) {
			t.Fatalf("%+v implies\n%+v\nwant\n%+v", rec, implied, w)
		}
		got, err := decodeRow(rowOf(rec, sender), rec.Seq)
		if err != nil {
			t.Fatalf("%+v: %v", rec, err)
		}
		if !same(got, w) || got.At.Location() != time.UTC {
			t.Fatalf("read back\n%+v\nwant\n%+v (in UTC)", got, w)
		}
	}
}

// TestCorruptRows: every truncation of a row, and rows with an unknown tag,
// trailing bytes or an impossible field, are ErrCorruptRow, not a transfer.
func TestCorruptRows(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 5, time.UTC)
	row := facts{kind: "open", envelope: "01JQ", index: 3, user: "bob", amount: 61, at: at}.appendRow()
	bad := [][]byte{
		append(bytes.Clone(row), 0),
		append([]byte{'x'}, row[1:]...),
		facts{kind: "fund", envelope: "01JQ", amount: 61}.appendRow()[:1],
	}
	for n := range len(row) {
		bad = append(bad, row[:n])
	}
	nsec := append([]byte{'f', 1, 'a', 2, 0}, 0xff, 0xff, 0xff, 0xff, 0x0f) // 2^32-1 ns
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
	f.Add(facts{kind: "open", envelope: "01JQ", index: 3, user: "bob", amount: 61, at: time.Unix(1, 2)}.appendRow())
	f.Add(facts{kind: "refund", envelope: "01JQ", user: "alice", amount: 1, at: time.Unix(-5, 0)}.appendRow())
	f.Add(facts{kind: "fund", amount: math.MinInt64}.appendRow())
	f.Fuzz(func(t *testing.T, b []byte) {
		tr, err := decodeRow(b, 7)
		if err != nil {
			return
		}
		var index int
		if tr.Kind == "open" {
			index = indexOf(t, tr.ID)
		}
		again, err := decodeRow(facts{kind: tr.Kind, envelope: tr.EnvelopeID, index: index, user: tr.User, amount: tr.Amount, at: tr.At}.appendRow(), 7)
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
