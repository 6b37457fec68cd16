package events

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var at = time.Date(2026, 11, 23, 8, 0, 0, 123, time.UTC)

func sample() []Event {
	id := "01JQ0000000000000000000000"
	return []Event{
		New(id, at, Wrapped{RequestID: "r-1", Sender: "alice", Kind: KindLucky, Total: 10000, Count: 10,
			Greeting: "恭喜发财", Seed: Seed{1, 2, 3}, MinShare: 1, MaxShare: 20000, PayBy: at.Add(15 * time.Minute), Expiry: 24 * time.Hour}),
		New(id, at, Paid{PaymentID: "p-1", Amount: 10000, ExpiresAt: at.Add(24 * time.Hour)}),
		New(id, at, Opened{User: "bob", Amount: 1234, Index: 1, RemainingAmount: 8766, RemainingCount: 9}),
		New(id, at, Expired{Refund: 8766, OpenedCount: 1}),
		New(id, at, Cancelled{Reason: "pay timeout"}),
	}
}

func TestRoundTrip(t *testing.T) {
	for _, e := range sample() {
		b, err := Encode(e)
		if err != nil {
			t.Fatalf("encode %s: %v", e.Type, err)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("decode %s: %v\n%s", e.Type, err, b)
		}
		if !reflect.DeepEqual(got, e) {
			t.Fatalf("round trip of %s:\n got %#v\nwant %#v", e.Type, got, e)
		}
		again, err := Encode(got)
		if err != nil || string(again) != string(b) {
			t.Fatalf("re-encoding %s is not stable:\n%s\n%s (%v)", e.Type, b, again, err)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	good, err := Encode(sample()[2])
	if err != nil {
		t.Fatal(err)
	}
	g := string(good)
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"empty", ``, ErrMalformed},
		{"not json", `{`, ErrMalformed},
		{"array", `[]`, ErrMalformed},
		{"unknown type", strings.Replace(g, `"type":"opened"`, `"type":"stolen"`, 1), ErrUnknownType},
		{"future version", strings.Replace(g, `"v":1`, `"v":2`, 1), ErrUnknownType},
		{"unknown top field", strings.Replace(g, `"v":1`, `"v":1,"x":1`, 1), ErrMalformed},
		{"unknown payload field", strings.Replace(g, `"user":"bob"`, `"user":"bob","bonus":1`, 1), ErrMalformed},
		{"float amount", strings.Replace(g, `"amount":1234`, `"amount":12.34`, 1), ErrMalformed},
		{"negative amount", strings.Replace(g, `"amount":1234`, `"amount":-1`, 1), ErrMalformed},
		{"string amount", strings.Replace(g, `"amount":1234`, `"amount":"1234"`, 1), ErrMalformed},
		{"missing data", strings.Replace(g, `"data":`, `"nodata":`, 1), ErrMalformed},
		{"null data", `{"type":"opened","v":1,"envelope_id":"x","at":"2026-01-01T00:00:00Z","data":null}`, ErrMalformed},
		{"trailing", g + `{}`, ErrMalformed},
		{"no id", strings.Replace(g, `"envelope_id":"01JQ0000000000000000000000"`, `"envelope_id":""`, 1), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.in))
			if !errors.Is(err, c.want) {
				t.Fatalf("Decode(%s) = %v, want %v", c.in, err, c.want)
			}
		})
	}
}

func TestEncodeRejectsMismatch(t *testing.T) {
	e := sample()[2]
	e.Type = TypePaid
	if _, err := Encode(e); !errors.Is(err, ErrMalformed) {
		t.Fatalf("payload/type mismatch encoded: %v", err)
	}
	bad := New("x", at, Wrapped{Sender: "a", Kind: KindLucky, Total: 40001, Count: 2, MinShare: 1, MaxShare: 20000, Expiry: time.Hour})
	if _, err := Encode(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("over-cap wrapped encoded: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, e := range sample() {
		b, err := Encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"opened","v":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownType) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		again, err := Encode(e)
		if err != nil {
			t.Fatalf("decoded event does not encode: %v", err)
		}
		e2, err := Decode(again)
		if err != nil || !reflect.DeepEqual(e, e2) {
			t.Fatalf("unstable round trip: %v\n%#v\n%#v", err, e, e2)
		}
	})
}
