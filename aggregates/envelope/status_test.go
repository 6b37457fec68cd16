package envelope

import (
	"testing"

	"github.com/hongbao/hongbao/events"
)

func TestParseStatus(t *testing.T) {
	for s := StatusNone; s <= StatusCancelled; s++ {
		got, err := ParseStatus(s.String())
		must(t, err)
		eq(t, "ParseStatus("+s.String()+")", got, s)
	}
	if _, err := ParseStatus("status(9)"); err == nil {
		t.Fatal("ParseStatus accepts an unnamed status")
	}
}

// TestBestLuck: the largest share, ties to the earliest, and only once the
// envelope has finished.
func TestBestLuck(t *testing.T) {
	e := live(t, events.KindEqual, 300, 3, events.Seed{})
	if _, ok := e.BestLuck(); ok {
		t.Fatal("best luck before any open")
	}
	openAll(t, e)
	best, ok := e.BestLuck()
	eq(t, "best luck of equal shares", best, 1)
	eq(t, "ok", ok, true)

	e = live(t, events.KindLucky, 10000, 10, events.Seed{7})
	openAll(t, e)
	want := 0
	for i, o := range e.Opens {
		if want == 0 || o.Amount > e.Opens[want-1].Amount {
			want = i + 1
		}
	}
	best, _ = e.BestLuck()
	eq(t, "best luck", best, want)
}
