package streamlog

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/seal"
)

// TestSealedAppendsChain: single appends, an atomic batch and group
// commits, by two instances with keys of their own (and caches of their
// own: the second links to the first's messages by reading them), form one
// verifiable chain per subject; a message published around the logs does
// not verify.
func TestSealedAppendsChain(t *testing.T) {
	js, st := testStream(t)
	ctx := context.Background()
	s1, _, err := seal.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s2, _, err := seal.Generate()
	if err != nil {
		t.Fatal(err)
	}
	a, b := NewLog(js, st, 0, nil), NewLog(js, st, 0, nil)
	a.SetSigner(s1)
	b.SetSigner(s2)
	g := NewGroup(b, 5*time.Second)
	policy := seal.NewPolicy([]string{s1.PublicKey(), s2.PublicKey()}, map[string]uint64{"TEST": 1}, nil)

	seq, err := a.Append(ctx, "test.x", 0, []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	if seq, err = b.AppendBatch(ctx, "test.x", seq, [][]byte{[]byte("2"), []byte("3")}); err != nil {
		t.Fatal(err)
	}
	if seq, err = a.AppendBatch(ctx, "test.x", seq, [][]byte{[]byte("4"), []byte("5")}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() { _, err := g.Append(ctx, "test.y", 0, []byte("y1")); done <- err }()
	go func() { _, err := g.Append(ctx, "test.x", seq, []byte("6")); done <- err }()
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for _, subject := range []string{"test.x", "test.y"} {
		msgs, err := a.Load(ctx, subject)
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(policy, "TEST", subject, msgs); err != nil {
			t.Fatalf("%s: %v", subject, err)
		}
	}
	// a did not write 6: it links to it as Load found it.
	msgs, _ := a.Load(ctx, "test.x")
	if _, err := a.Append(ctx, "test.x", msgs[len(msgs)-1].Seq, []byte("7")); err != nil {
		t.Fatal(err)
	}
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: "test.x", Data: []byte("8")}); err != nil {
		t.Fatal(err)
	}
	msgs, _ = a.Load(ctx, "test.x")
	if err := Verify(policy, "TEST", "test.x", msgs[:len(msgs)-1]); err != nil {
		t.Fatalf("up to the forgery: %v", err)
	}
	if err := Verify(policy, "TEST", "test.x", msgs); !errors.Is(err, seal.ErrForged) {
		t.Fatalf("with the forgery: %v, want ErrForged", err)
	}
}
