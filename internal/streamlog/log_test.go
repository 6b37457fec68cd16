package streamlog

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/internal/natstest"
)

// testStream is a stream on test.> of a fresh server.
func testStream(t testing.TB) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	js := natstest.Start(t).JetStream(t)
	st, err := EnsureStream(context.Background(), js, jetstream.StreamConfig{Name: "TEST", Subjects: []string{"test.>"},
		Storage: jetstream.FileStorage, AllowAtomicPublish: true})
	if err != nil {
		t.Fatal(err)
	}
	return js, st
}

// TestTwoWritersOneSubject: of two appends after the same sequence one
// lands and the other is a conflict that wrote nothing.
func TestTwoWritersOneSubject(t *testing.T) {
	js, st := testStream(t)
	a, b := NewLog(js, st, 0, nil), NewLog(js, st, 0, nil)
	ctx := context.Background()
	seq, err := a.Append(ctx, "test.k", 0, []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Append(ctx, "test.k", 0, []byte("2")); !errors.Is(err, ErrConflict) {
		t.Fatalf("second writer after 0: %v, want ErrConflict", err)
	}
	if _, err := b.Append(ctx, "test.k", seq, []byte("2")); err != nil {
		t.Fatalf("second writer after %d: %v", seq, err)
	}
	msgs, err := a.Load(ctx, "test.k")
	if err != nil || len(msgs) != 2 || string(msgs[0].Data) != "1" || string(msgs[1].Data) != "2" {
		t.Fatalf("Load = %v, %v", msgs, err)
	}
}

// TestJitter: a backoff is spread over [d/2, 3d/2).
func TestJitter(t *testing.T) {
	d := 100 * time.Millisecond
	seen := map[time.Duration]bool{}
	for range 1000 {
		j := jitter(d)
		if j < d/2 || j >= 3*d/2 {
			t.Fatalf("jitter(%v) = %v", d, j)
		}
		seen[j] = true
	}
	if len(seen) < 100 {
		t.Fatalf("jitter(%v) took %d values in 1000 draws", d, len(seen))
	}
}

func TestIsWrongLastSequence(t *testing.T) {
	for code, want := range map[jetstream.ErrorCode]bool{10071: true, 10164: true, 10037: false} {
		err := &jetstream.APIError{ErrorCode: code}
		if got := IsWrongLastSequence(errors.Join(errors.New("ctx"), err)); got != want {
			t.Errorf("code %d: %v", code, got)
		}
	}
}

// TestRetryable: what leaves an append's outcome unknown, or the message
// unsent, is retried; what JetStream refused is not.
func TestRetryable(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, true},
		{jetstream.ErrAsyncPublishTimeout, true}, // the async publisher's own timeout
		{jetstream.ErrTooManyStalledMsgs, true},  // not sent
		{jetstream.ErrNoStreamResponse, true},
		{fmt.Errorf("wrapped: %w", nats.ErrTimeout), true},
		{&jetstream.APIError{ErrorCode: jetstream.JSErrCodeStreamWrongLastSequence}, false},
		{context.Canceled, false},
		{errors.New("something else"), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// TestAppendUnanswered: an append that no stream takes is retried until its
// context ends, then fails as unavailable; appends after it go through.
func TestAppendUnanswered(t *testing.T) {
	js, st := testStream(t)
	log := NewLog(js, st, 50*time.Millisecond, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := log.Append(ctx, "nostream.x", 0, []byte("{}"))
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("append with no stream: %v, want ErrUnavailable", err)
	}
	if _, err := log.Append(context.Background(), "test.x", 0, []byte("{}")); err != nil {
		t.Fatalf("an append after the timed-out one: %v", err)
	}
}
