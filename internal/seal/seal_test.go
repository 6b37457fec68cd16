package seal_test

import (
	"errors"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/seal"
)

type stored struct {
	seq  uint64
	h    nats.Header
	data []byte
}

// chain seals datas on subject as the log does, starting at seq 1.
func chain(t *testing.T, s *seal.Signer, subject string, datas ...string) []stored {
	t.Helper()
	var out []stored
	prev := ""
	for i, d := range datas {
		m := &nats.Msg{Subject: subject, Data: []byte(d)}
		next := s.Seal(m, prev)
		if got := seal.Hash(m.Header, m.Data); got != next {
			t.Fatalf("Seal returned %s, Hash %s", next, got)
		}
		prev = next
		out = append(out, stored{uint64(i + 1), m.Header, m.Data})
	}
	return out
}

func verifyAll(p *seal.Policy, subject string, msgs []stored) error {
	prev := ""
	for _, m := range msgs {
		if err := p.Verify("S", subject, m.seq, m.h, m.data); err != nil {
			return err
		}
		var err error
		if prev, err = seal.Link(subject, m.seq, m.h, m.data, prev); err != nil {
			return err
		}
	}
	return nil
}

// TestSealVerify: a sealed chain verifies; a changed byte, a message moved
// to another subject, a dropped message, an unknown key, and an unsigned
// message after the signed-from marker do not (ErrForged); an unsigned
// message before it is legacy.
func TestSealVerify(t *testing.T) {
	dir := t.TempDir()
	s, err := seal.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	again, err := seal.LoadOrCreate(dir)
	if err != nil || again.PublicKey() != s.PublicKey() {
		t.Fatalf("reloaded %v (%v), want %s", again, err, s.PublicKey())
	}
	p := seal.NewPolicy([]string{s.PublicKey()}, map[string]uint64{"S": 10}, nil)
	msgs := chain(t, s, "envelope.a", `{"a":1}`, `{"b":2}`, `{"c":3}`)
	if err := verifyAll(p, "envelope.a", msgs); err != nil {
		t.Fatalf("a sealed chain: %v", err)
	}
	forged := func(name string, subject string, ms []stored) {
		t.Helper()
		if err := verifyAll(p, subject, ms); !errors.Is(err, seal.ErrForged) {
			t.Fatalf("%s: %v, want ErrForged", name, err)
		}
	}
	changed := append([]stored(nil), msgs...)
	changed[1].data = []byte(`{"b":3}`)
	forged("changed data", "envelope.a", changed)
	forged("moved to another subject", "envelope.b", msgs)
	forged("a message dropped", "envelope.a", []stored{msgs[0], msgs[2]})
	rogue, _, err := seal.Generate()
	if err != nil {
		t.Fatal(err)
	}
	forged("an unknown key", "envelope.a", chain(t, rogue, "envelope.a", `{"a":1}`))
	forged("unsigned after the marker", "envelope.a", []stored{{seq: 10, h: nats.Header{}, data: []byte(`{}`)}})
	if err := verifyAll(p, "envelope.a", []stored{{seq: 9, h: nats.Header{}, data: []byte(`{}`)}}); err != nil {
		t.Fatalf("legacy before the marker: %v", err)
	}
	if err := seal.NewPolicy(nil, nil, nil).Verify("S", "x", 1, nats.Header{}, nil); err != nil {
		t.Fatalf("a stream never signed: %v", err)
	}
	var none *seal.Policy
	if err := none.Verify("S", "x", 1, msgs[0].h, []byte("anything")); err != nil {
		t.Fatalf("nil policy: %v", err)
	}
}

func BenchmarkSeal(b *testing.B) {
	s, _, err := seal.Generate()
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 250)
	prev := ""
	b.ReportAllocs()
	for b.Loop() {
		prev = s.Seal(&nats.Msg{Subject: "envelope.01HXYZ", Data: data}, prev)
	}
}

func BenchmarkVerify(b *testing.B) {
	s, _, err := seal.Generate()
	if err != nil {
		b.Fatal(err)
	}
	p := seal.NewPolicy([]string{s.PublicKey()}, nil, nil)
	m := &nats.Msg{Subject: "envelope.01HXYZ", Data: make([]byte, 250)}
	s.Seal(m, "")
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Verify("S", m.Subject, 1, m.Header, m.Data); err != nil {
			b.Fatal(err)
		}
	}
}
