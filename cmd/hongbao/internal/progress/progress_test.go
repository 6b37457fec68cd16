package progress

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hongbao/hongbao/internal/natstest"
)

// syncBuffer is a bytes.Buffer safe for the printing goroutine and the
// test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestBar(t *testing.T) {
	for _, inPlace := range []bool{false, true} {
		var buf syncBuffer
		p := New(&buf, inPlace, time.Millisecond)
		b := p.Start("spread", "opens", 20_000)
		b.Add(12_000)
		b.Add(345)
		natstest.Eventually(t, 10*time.Second, func() error {
			out := buf.String()
			if !inPlace && (!strings.Contains(out, "spread: 12,345/20,000 opens, ") || !strings.Contains(out, ", ETA ")) {
				return errors.New("no progress line yet")
			}
			if inPlace && (!strings.Contains(out, "spread") || !strings.Contains(out, "(12345/20000, ")) {
				return errors.New("no progress bar yet")
			}
			return nil
		})
		b.Finish()
		b.Finish() // twice is fine
		out := buf.String()
		if !strings.Contains(out, "spread: 12,345/20,000 opens in ") {
			t.Errorf("no final line: %q", out)
		}
		if got := strings.Contains(out, "\r"); got != inPlace {
			t.Errorf("in place %v: \\r in %q", inPlace, out)
		}
		if !strings.HasSuffix(out, "\n") {
			t.Errorf("in place %v: final line not ended: %q", inPlace, out)
		}
		if b.Count() != 12_345 {
			t.Errorf("Count() = %d", b.Count())
		}
	}
}

func TestSilent(t *testing.T) {
	var nilPrinter *Printer
	b := nilPrinter.Start("x", "ops", 1) // no printer: counts, prints nothing
	b.Set(1)
	b.Finish()
	if b.Count() != 1 {
		t.Errorf("Count() = %d", b.Count())
	}
	New(nil, false, 0).Start("y", "ops", 1).Finish()
}

func TestCommas(t *testing.T) {
	for v, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 1234567: "1,234,567", -12345: "-12,345"} {
		if got := Commas(v); got != want {
			t.Errorf("Commas(%d) = %s", v, got)
		}
	}
}
