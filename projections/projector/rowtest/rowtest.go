package rowtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/hongbao/hongbao/projections/projector"
)

// Values is how many random values CheckJSON encodes.
const Values = 5000

// CheckJSON fails t unless T's AppendJSON writes exactly what json.Marshal
// writes (or fails where it fails), for T's zero value and Values random
// values: every field at random, zero or not (for omitempty and omitzero),
// strings that need escaping or are not ASCII or not UTF-8, extreme
// integers, times in several zones and out of JSON's range. A field added
// to T and not to AppendJSON fails it.
func CheckJSON[T any](t testing.TB) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var v T
	if _, ok := any(&v).(projector.JSONAppender); !ok {
		t.Fatalf("%T does not implement projector.JSONAppender", v)
	}
	for i := range Values + 1 {
		if i > 0 {
			fill(t, rng, reflect.ValueOf(&v).Elem())
		}
		want, werr := json.Marshal(v)
		got, gerr := any(&v).(projector.JSONAppender).AppendJSON([]byte("prefix"))
		switch {
		case (werr == nil) != (gerr == nil):
			t.Fatalf("%#v: AppendJSON error %v, json.Marshal error %v", v, gerr, werr)
		case werr == nil && !bytes.Equal(got, append([]byte("prefix"), want...)):
			t.Fatalf("%#v:\nAppendJSON   %s\njson.Marshal prefix%s", v, got, want)
		}
	}
}

// CheckRow fails t unless *T's RowCodec reads back exactly what it wrote,
// for T's zero value and Values random values (as CheckJSON makes them;
// times compare as instants, in UTC), writes it again byte for byte, and
// refuses every shorter row and a row with a byte more (ErrCorruptRow).
func CheckRow[T any](t testing.TB) {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	var v T
	if _, ok := any(&v).(projector.RowCodec); !ok {
		t.Fatalf("*%T does not implement projector.RowCodec", v)
	}
	for i := range Values + 1 {
		if i > 0 {
			fill(t, rng, reflect.ValueOf(&v).Elem())
		}
		b := any(&v).(projector.RowCodec).AppendRow([]byte("prefix"))[len("prefix"):]
		var got T
		if err := any(&got).(projector.RowCodec).DecodeRow(b); err != nil {
			t.Fatalf("%#v: row % x does not decode: %v", v, b, err)
		}
		if !sameRow(reflect.ValueOf(got), reflect.ValueOf(v)) {
			t.Fatalf("%#v\nreads back as\n%#v", v, got)
		}
		if again := any(&got).(projector.RowCodec).AppendRow(nil); !bytes.Equal(again, b) {
			t.Fatalf("%#v: written % x, then % x", v, b, again)
		}
		for _, bad := range [][]byte{b[:rng.IntN(len(b))], append(bytes.Clone(b), 0)} {
			var w T
			if err := any(&w).(projector.RowCodec).DecodeRow(bad); !errors.Is(err, projector.ErrCorruptRow) {
				t.Fatalf("%#v: the row % x of % x decodes (%v), want ErrCorruptRow", v, bad, b, err)
			}
		}
	}
}

// sameRow compares fields, times as instants (and got's in UTC).
func sameRow(got, want reflect.Value) bool {
	if tm, ok := want.Interface().(time.Time); ok {
		g := got.Interface().(time.Time)
		return g.Equal(tm) && g.Location() == time.UTC
	}
	if want.Kind() == reflect.Struct {
		for i := range want.NumField() {
			if !sameRow(got.Field(i), want.Field(i)) {
				return false
			}
		}
		return true
	}
	return got.Equal(want)
}

var strs = []string{"", "a", "user07", "01JQ0000000000000000000000", "wallet:bob", "fund:x", "live",
	"恭喜发财", "<b>&amp;</b>", `"quoted\"`, "tab\tnew\nline", "\x00\x1f\x7f", "\xff\xfe", "\u2028\u2029", "é", "\ufffd"}

var zones = []*time.Location{time.UTC, time.FixedZone("CST", 8*3600), time.FixedZone("", -(5*3600 + 30*60)),
	time.FixedZone("", 23*3600+59*60+59), time.FixedZone("", 24*3600), time.FixedZone("", -24*3600), time.Local}

func fill(t testing.TB, rng *rand.Rand, v reflect.Value) {
	if v.Type() == reflect.TypeFor[time.Time]() {
		var tm time.Time
		switch rng.IntN(6) {
		case 0: // zero
		case 1:
			tm = time.Date(10000+rng.IntN(10), 1, 1, 0, 0, 0, 0, time.UTC)
		case 2:
			tm = time.Date(-rng.IntN(10), 12, 31, 23, 59, 59, 999999999, time.UTC)
		default:
			tm = time.Unix(rng.Int64N(1<<35), rng.Int64N(1e9)).In(zones[rng.IntN(len(zones))])
			if rng.IntN(3) == 0 {
				tm = tm.Truncate(time.Second)
			}
		}
		v.Set(reflect.ValueOf(tm))
		return
	}
	zero := rng.IntN(4) == 0
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(t, rng, v.Field(i))
			}
		}
	case reflect.String:
		s := strs[rng.IntN(len(strs))]
		if rng.IntN(4) == 0 {
			s = string(rune(rng.IntN(0x10ffff))) + s
		}
		if zero {
			s = ""
		}
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(!zero && rng.IntN(2) == 0)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := []int64{1, -1, math.MaxInt64, math.MinInt64, rng.Int64(), rng.Int64N(100000), -rng.Int64N(100000)}[rng.IntN(7)]
		if zero {
			n = 0
		}
		v.SetInt(n >> (64 - 8*v.Type().Size()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n := []uint64{1, math.MaxUint64, rng.Uint64(), rng.Uint64N(100000)}[rng.IntN(4)]
		if zero {
			n = 0
		}
		v.SetUint(n >> (64 - 8*v.Type().Size()))
	default:
		t.Fatalf("rowtest: no random %s", v.Type())
	}
}
