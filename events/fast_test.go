package events

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// checkSameAsStrict fails unless Decode answers exactly what the strict
// decoder answers for b (the same event, or an error with the same text),
// and unless the fast path, when it takes b, returns the strict decoder's
// event.
func checkSameAsStrict(t *testing.T, b []byte) {
	t.Helper()
	want, werr := decodeStrict(b)
	got, gerr := Decode(b)
	switch {
	case (gerr == nil) != (werr == nil):
		t.Fatalf("Decode(%q): error %v, strict decoder: %v", b, gerr, werr)
	case gerr != nil && gerr.Error() != werr.Error():
		t.Fatalf("Decode(%q): error %q, strict decoder: %q", b, gerr, werr)
	case !reflect.DeepEqual(got, want):
		t.Fatalf("Decode(%q):\n got %#v\nwant %#v", b, got, want)
	}
	if fast, ok := decodeFast(b); ok {
		if werr != nil {
			t.Fatalf("fast path took %q, which the strict decoder refuses: %v", b, werr)
		}
		if !reflect.DeepEqual(fast, want) {
			t.Fatalf("fast path on %q:\n got %#v\nwant %#v", b, fast, want)
		}
	}
}

// FuzzDecodeMatchesStrict: Decode (the fast path with the strict decoder
// behind it) accepts exactly what the strict decoder accepts and returns
// identical events and errors.
func FuzzDecodeMatchesStrict(f *testing.F) {
	for _, e := range sample() {
		b, err := Encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkSameAsStrict(t, b) })
}

// TestDecodeFastTakesEncoded: what Encode writes takes the fast path (or
// the fast path would be dead weight).
func TestDecodeFastTakesEncoded(t *testing.T) {
	evs := sample()
	noGreeting := evs[0].Data.(Wrapped)
	noGreeting.Greeting = ""
	evs = append(evs,
		New("x", at.In(time.FixedZone("CST", 8*3600)), noGreeting),
		New("x", at, Opened{User: "bob", Amount: 1, Index: 10, RemainingAmount: 0, RemainingCount: 0}),
		New("x", at, Paid{PaymentID: "p", Amount: HardMaxShare, ExpiresAt: at.In(time.FixedZone("", -3600))}),
		New("x", at, Expired{}),
		New("x", at, Cancelled{}),
		New("x", at, Cancelled{Reason: "<b>&\u2028\u00e9"}), // escaped by Encode: strict path
	)
	for i, e := range evs {
		b, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		checkSameAsStrict(t, b)
		_, fast := decodeFast(b)
		if want := i != len(evs)-1; fast != want {
			t.Errorf("fast path on %s = %v, want %v", b, fast, want)
		}
	}
}

// TestDecodeMatchesStrictVariants: hand-picked inputs around the edges of
// the fast path (each must be answered as the strict decoder answers it),
// then many random mutations of encoded events.
func TestDecodeMatchesStrictVariants(t *testing.T) {
	var encoded []string
	for _, e := range sample() {
		b, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		encoded = append(encoded, string(b))
	}
	opened := encoded[2]
	const head = `{"type":"opened","v":1,"envelope_id":"x","at":"2026-11-23T08:00:00Z","data":`
	edges := []string{
		``, `{`, `}`, `{}`, `[]`, `null`, `1`, `"x"`,
		opened + ` `, ` ` + opened, opened + `{}`, opened + `x`, opened + "\n",
		strings.Replace(opened, `"type"`, `"Type"`, 1),
		strings.Replace(opened, `"user"`, `"USER"`, 1),
		strings.Replace(opened, `"user"`, `"u\u0073er"`, 1),
		strings.Replace(opened, `"bob"`, `"b\u006fb"`, 1),
		strings.Replace(opened, `"bob"`, `"b\nb"`, 1),
		strings.Replace(opened, `"bob"`, "\"b\x01b\"", 1),
		strings.Replace(opened, `"bob"`, "\"b\xffb\"", 1),
		strings.Replace(opened, `"bob"`, "\"b\xed\xa0\x80b\"", 1),
		strings.Replace(opened, `"bob"`, "\"bé\"", 1),
		strings.Replace(opened, `"bob"`, `null`, 1),
		strings.Replace(opened, `"amount":1234`, `"amount":01234`, 1),
		strings.Replace(opened, `"amount":1234`, `"amount":-0`, 1),
		strings.Replace(opened, `"amount":1234`, `"amount":1234.0`, 1),
		strings.Replace(opened, `"amount":1234`, `"amount":1e3`, 1),
		strings.Replace(opened, `"amount":1234`, `"amount":9223372036854775807`, 1),
		strings.Replace(opened, `"amount":1234`, `"amount":9223372036854775808`, 1),
		strings.Replace(opened, `"amount":1234`, `"amount":123456789012345678`, 1),
		strings.Replace(opened, `"amount":1234`, `"amount":1234,"amount":5`, 1),
		strings.Replace(opened, `"amount":1234`, `"amount":null`, 1),
		strings.Replace(opened, `"v":1`, `"v":1,"v":1`, 1),
		strings.Replace(opened, `"v":1`, `"v":01`, 1),
		strings.Replace(opened, `"v":1`, `"v":null`, 1),
		strings.Replace(opened, `"at":"2026-11-23T08:00:00.000000123Z"`, `"at":"2026-11-23T08:00:00+08:00"`, 1),
		strings.Replace(opened, `"at":"2026-11-23T08:00:00.000000123Z"`, `"at":"2026-11-23T08:00:00\u002B08:00"`, 1),
		strings.Replace(opened, `"at":"2026-11-23T08:00:00.000000123Z"`, `"at":"0001-01-01T00:00:00Z"`, 1),
		strings.Replace(opened, `"at":"2026-11-23T08:00:00.000000123Z"`, `"at":"2026-11-23 08:00:00Z"`, 1),
		strings.Replace(opened, `"at":"2026-11-23T08:00:00.000000123Z"`, `"at":null`, 1),
		strings.Replace(opened, `"envelope_id":"01JQ0000000000000000000000"`, `"envelope_id":""`, 1),
		head + `{}}`, head + `null}`, head + `[]}`, head + `{"user":"a","amount":1,"index":1}}`,
		`{"type":"cancelled","v":1,"envelope_id":"x","at":"2026-11-23T08:00:00Z","data":null}`,
		`{"type":"cancelled","v":1,"envelope_id":"x","at":"2026-11-23T08:00:00Z","data":{}}`,
		`{"data":{},"type":"cancelled","v":1,"envelope_id":"x","at":"2026-11-23T08:00:00Z"}`,
		`{"v":1,"envelope_id":"x","at":"2026-11-23T08:00:00Z","type":"cancelled","data":{"reason":"r"}}`,
		`{"type":"cancelled","v":1,"envelope_id":"x","at":"2026-11-23T08:00:00Z","data":{"reason":"r"},"data":{}}`,
		`{"type":"cancelled","v":1,"envelope_id":"x","at":"2026-11-23T08:00:00Z","data":{"reason":"r"},"type":"paid"}`,
		`{"type":"cancelled","v":1,"envelope_id":"x","at":"2026-11-23T08:00:00Z"}`,
		`{"type":"cancelled","envelope_id":"x","at":"2026-11-23T08:00:00Z","data":{}}`,
		`{"type":"cancelled","v":2,"envelope_id":"x","at":"2026-11-23T08:00:00Z","data":{}}`,
		`{"type":"stolen","v":1,"envelope_id":"x","at":"2026-11-23T08:00:00Z","data":{}}`,
		strings.Replace(encoded[0], `"seed":"01`, `"seed":"0G`, 1),
		strings.Replace(encoded[0], `"seed":"01`, `"seed":"\u00301`, 1),
		strings.Replace(encoded[0], `"seed":"01`, `"seed":"0`, 1),
		strings.Replace(encoded[0], `"greeting":"恭喜发财",`, ``, 1),
		strings.Replace(encoded[0], `"count":10`, `"count":1000001`, 1),
		strings.Replace(encoded[0], `"kind":"lucky"`, `"kind":"LUCKY"`, 1),
		strings.Replace(encoded[0], `"expiry_ns":86400000000000`, `"expiry_ns":0`, 1),
	}
	for _, in := range edges {
		checkSameAsStrict(t, []byte(in))
	}

	// Random edits with JSON-ish bytes: most break the event in some way,
	// some keep it valid but leave the fast path's layout.
	alphabet := []byte("{}[]\":,\\ \t\n0123456789-+.eEnulltrfaseuxbAZ\x00\x7f\xc3\xa9\xff")
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		b := []byte(encoded[rng.IntN(len(encoded))])
		for range 1 + rng.IntN(3) {
			i := rng.IntN(len(b) + 1)
			switch rng.IntN(4) {
			case 0: // insert
				b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
			case 1: // delete
				if i < len(b) {
					b = append(b[:i], b[i+1:]...)
				}
			case 2: // replace
				if i < len(b) {
					b[i] = alphabet[rng.IntN(len(alphabet))]
				}
			case 3: // duplicate a slice
				j := i + rng.IntN(len(b)-i+1)
				b = append(b[:j], append(bytes.Clone(b[i:j]), b[j:]...)...)
			}
		}
		checkSameAsStrict(t, b)
	}
}

// BenchmarkEncode: every event type as the store writes it.
func BenchmarkEncode(b *testing.B) {
	for _, e := range sample() {
		b.Run(string(e.Type), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Encode(e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, e := range sample() {
		data, err := Encode(e)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(e.Type), func(b *testing.B) {
			b.Run("fast", func(b *testing.B) {
				for b.Loop() {
					if _, err := Decode(data); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("strict", func(b *testing.B) {
				for b.Loop() {
					if _, err := decodeStrict(data); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// encodeReflect is Encode's json.Marshal path, which encodeOpened must
// match byte for byte.
func encodeReflect(e Event) ([]byte, error) {
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, err
	}
	return json.Marshal(wire{Type: e.Type, V: Version, EnvelopeID: e.EnvelopeID, At: e.At.UTC(), Data: data})
}

// TestEncodeOpenedMatchesJSON: the hand-written encoder of Opened events
// writes what json.Marshal writes, for users and ids that need escaping or
// are not UTF-8, extreme integers and times in and out of JSON's range.
func TestEncodeOpenedMatchesJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	strs := []string{"", "bob", "01JQ0000000000000000000000", "恭喜发财", "<b>&amp;</b>", `"q\"`, "\x00\x1f\x7f",
		"\xff\xfe", "\u2028\u2029", "tab\tnew\nline"}
	ints := []int64{0, 1, -1, math.MaxInt64, math.MinInt64, 20000, 1 << 40}
	times := []time.Time{at, {}, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		at.In(time.FixedZone("", 23*3600)), time.Unix(1<<33, 123456789)}
	for range 20000 {
		o := Opened{User: strs[rng.IntN(len(strs))], Amount: ints[rng.IntN(len(ints))], Index: int(ints[rng.IntN(len(ints))]),
			RemainingAmount: ints[rng.IntN(len(ints))], RemainingCount: int(ints[rng.IntN(len(ints))])}
		e := Event{Type: TypeOpened, EnvelopeID: strs[rng.IntN(len(strs))], At: times[rng.IntN(len(times))], Data: o}
		want, werr := encodeReflect(e)
		got, gerr := encodeOpened(e, o)
		switch {
		case (gerr == nil) != (werr == nil):
			t.Fatalf("%#v: error %v, json.Marshal: %v", e, gerr, werr)
		case gerr == nil && !bytes.Equal(got, want):
			t.Fatalf("%#v:\n got %s\nwant %s", e, got, want)
		}
	}
}
