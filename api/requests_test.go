package api

import (
	"fmt"
	"math"
	"strings"
	"testing"
)

// wrapBody returns a good wrap body with the members in over replacing (or,
// for new names, added to) the defaults; a value of "" drops the member.
// Values are raw JSON.
func wrapBody(over map[string]string) string {
	members := []struct{ name, value string }{
		{"request_id", `"c-123"`},
		{"sender", `"alice"`},
		{"kind", `"lucky"`},
		{"total", `10000`},
		{"count", `10`},
		{"greeting", `"恭喜发财"`},
	}
	var parts []string
	seen := map[string]bool{}
	for _, m := range members {
		seen[m.name] = true
		v := m.value
		if o, ok := over[m.name]; ok {
			v = o
		}
		if v != "" {
			parts = append(parts, fmt.Sprintf("%q:%s", m.name, v))
		}
	}
	for name, v := range over {
		if !seen[name] && v != "" {
			parts = append(parts, fmt.Sprintf("%q:%s", name, v))
		}
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestDecodeWrap(t *testing.T) {
	good := WrapRequest{RequestID: "c-123", Sender: "alice", Kind: KindLucky, Total: 10000, Count: 10, Greeting: "恭喜发财"}
	cjk100 := strings.Repeat("福", 100)
	padded := wrapBody(nil)
	padded += strings.Repeat(" ", MaxBody-len(padded))

	type want struct {
		req  WrapRequest // compared when code is ""
		code string
		msg  string // a part of the error message
	}
	ok := func(mod func(*WrapRequest)) want {
		r := good
		if mod != nil {
			mod(&r)
		}
		return want{req: r}
	}
	bad := func(code, msg string) want { return want{code: code, msg: msg} }
	cases := []struct {
		name string
		body string
		want want
	}{
		// Good bodies.
		{"good", wrapBody(nil), ok(nil)},
		{"equal", wrapBody(map[string]string{"kind": `"equal"`}), ok(func(r *WrapRequest) { r.Kind = KindEqual })},
		{"no greeting", wrapBody(map[string]string{"greeting": ""}), ok(func(r *WrapRequest) { r.Greeting = "" })},
		{"null greeting", wrapBody(map[string]string{"greeting": "null"}), ok(func(r *WrapRequest) { r.Greeting = "" })},
		{"empty greeting", wrapBody(map[string]string{"greeting": `""`}), ok(func(r *WrapRequest) { r.Greeting = "" })},
		{"100 CJK greeting", wrapBody(map[string]string{"greeting": `"` + cjk100 + `"`}), ok(func(r *WrapRequest) { r.Greeting = cjk100 })},
		{"escaped greeting", wrapBody(map[string]string{"greeting": `"\u606d\u559c"`}), ok(func(r *WrapRequest) { r.Greeting = "恭喜" })},
		{"escaped name", strings.Replace(wrapBody(nil), `"sender"`, `"\u0073ender"`, 1), ok(nil)},
		{"whitespace around", " \n\t" + wrapBody(nil) + "\r\n ", ok(nil)},
		{"exactly MaxBody", padded, ok(nil)},
		{"max total", wrapBody(map[string]string{"total": "9223372036854775807"}), ok(func(r *WrapRequest) { r.Total = math.MaxInt64 })},
		{"max count", wrapBody(map[string]string{"count": "2147483647"}), ok(func(r *WrapRequest) { r.Count = math.MaxInt32 })},
		{"over business limits", wrapBody(map[string]string{"total": "1", "count": "1000"}), ok(func(r *WrapRequest) { r.Total, r.Count = 1, 1000 })},
		{"request_id with space", wrapBody(map[string]string{"request_id": `"c 1"`}), ok(func(r *WrapRequest) { r.RequestID = "c 1" })},
		{"request_id 128", wrapBody(map[string]string{"request_id": `"` + strings.Repeat("r", 128) + `"`}), ok(func(r *WrapRequest) { r.RequestID = strings.Repeat("r", 128) })},
		{"sender 64", wrapBody(map[string]string{"sender": `"` + strings.Repeat("s", 64) + `"`}), ok(func(r *WrapRequest) { r.Sender = strings.Repeat("s", 64) })},

		// Not one JSON object.
		{"empty body", ``, bad(CodeBadRequest, "missing field")},
		{"whitespace only", `  `, bad(CodeBadRequest, "malformed")},
		{"null body", `null`, bad(CodeBadRequest, "object")},
		{"array body", `[]`, bad(CodeBadRequest, "object")},
		{"string body", `"x"`, bad(CodeBadRequest, "object")},
		{"number body", `1`, bad(CodeBadRequest, "object")},
		{"unterminated", `{"request_id":"c-1"`, bad(CodeBadRequest, "malformed")},
		{"missing value", `{"total":}`, bad(CodeBadRequest, "malformed")},
		{"missing colon", `{"total" 1}`, bad(CodeBadRequest, "malformed")},
		{"trailing comma", strings.TrimSuffix(wrapBody(nil), "}") + `,}`, bad(CodeBadRequest, "malformed")},
		{"single quotes", `{'total':1}`, bad(CodeBadRequest, "malformed")},
		{"trailing garbage", wrapBody(nil) + `x`, bad(CodeBadRequest, "trailing")},
		{"trailing object", wrapBody(nil) + `{}`, bad(CodeBadRequest, "trailing")},
		{"trailing brace", wrapBody(nil) + `}`, bad(CodeBadRequest, "trailing")},
		{"two objects", wrapBody(nil) + "\n" + wrapBody(nil), bad(CodeBadRequest, "trailing")},
		{"over MaxBody", padded + " ", bad(CodeBadRequest, "larger")},
		{"invalid UTF-8", wrapBody(map[string]string{"greeting": "\"\xff\xfe\""}), bad(CodeBadRequest, "UTF-8")},

		// Members.
		{"unknown field", wrapBody(map[string]string{"bonus": `1`}), bad(CodeBadRequest, `unknown field "bonus"`)},
		{"unknown null field", wrapBody(map[string]string{"bonus": `null`}), bad(CodeBadRequest, `unknown field "bonus"`)},
		{"wrong case name", strings.Replace(wrapBody(nil), `"total"`, `"Total"`, 1), bad(CodeBadRequest, `unknown field "Total"`)},
		{"duplicate field", strings.TrimSuffix(wrapBody(nil), "}") + `,"total":5}`, bad(CodeBadRequest, `duplicate field "total"`)},
		{"missing request_id", wrapBody(map[string]string{"request_id": ""}), bad(CodeBadRequest, `missing field "request_id"`)},
		{"missing sender", wrapBody(map[string]string{"sender": ""}), bad(CodeBadRequest, `missing field "sender"`)},
		{"missing kind", wrapBody(map[string]string{"kind": ""}), bad(CodeBadRequest, `missing field "kind"`)},
		{"missing total", wrapBody(map[string]string{"total": ""}), bad(CodeBadRequest, `missing field "total"`)},
		{"missing count", wrapBody(map[string]string{"count": ""}), bad(CodeBadRequest, `missing field "count"`)},
		{"null request_id", wrapBody(map[string]string{"request_id": "null"}), bad(CodeBadRequest, `"request_id" must not be null`)},
		{"null sender", wrapBody(map[string]string{"sender": "null"}), bad(CodeBadRequest, `"sender" must not be null`)},
		{"null total", wrapBody(map[string]string{"total": "null"}), bad(CodeBadRequest, `"total" must not be null`)},
		{"null count", wrapBody(map[string]string{"count": "null"}), bad(CodeBadRequest, `"count" must not be null`)},

		// Wrong JSON types.
		{"number sender", wrapBody(map[string]string{"sender": `1`}), bad(CodeBadRequest, `"sender": wrong type`)},
		{"object kind", wrapBody(map[string]string{"kind": `{}`}), bad(CodeBadRequest, `"kind": wrong type`)},
		{"array greeting", wrapBody(map[string]string{"greeting": `["hi"]`}), bad(CodeBadRequest, `"greeting": wrong type`)},
		{"string total", wrapBody(map[string]string{"total": `"10000"`}), bad(CodeBadRequest, `"total": wrong type`)},
		{"bool total", wrapBody(map[string]string{"total": `true`}), bad(CodeBadRequest, `"total": wrong type`)},
		{"array total", wrapBody(map[string]string{"total": `[1]`}), bad(CodeBadRequest, `"total": wrong type`)},
		{"object total", wrapBody(map[string]string{"total": `{}`}), bad(CodeBadRequest, `"total": wrong type`)},
		{"string count", wrapBody(map[string]string{"count": `"10"`}), bad(CodeBadRequest, `"count": wrong type`)},
		{"bool count", wrapBody(map[string]string{"count": `false`}), bad(CodeBadRequest, `"count": wrong type`)},

		// Amounts.
		{"fractional total", wrapBody(map[string]string{"total": `1.5`}), bad(CodeInvalidAmount, `"total"`)},
		{"total 1.0", wrapBody(map[string]string{"total": `1.0`}), bad(CodeInvalidAmount, "integer")},
		{"exponent total", wrapBody(map[string]string{"total": `1e3`}), bad(CodeInvalidAmount, "integer")},
		{"upper exponent total", wrapBody(map[string]string{"total": `1E+3`}), bad(CodeInvalidAmount, "integer")},
		{"huge exponent total", wrapBody(map[string]string{"total": `1e400`}), bad(CodeInvalidAmount, "integer")},
		{"overflowing total", wrapBody(map[string]string{"total": `99999999999999999999`}), bad(CodeInvalidAmount, "range")},
		{"total 2^63", wrapBody(map[string]string{"total": `9223372036854775808`}), bad(CodeInvalidAmount, "range")},
		{"underflowing total", wrapBody(map[string]string{"total": `-99999999999999999999`}), bad(CodeInvalidAmount, "range")},
		{"negative total", wrapBody(map[string]string{"total": `-1`}), bad(CodeInvalidAmount, "total")},
		{"zero total", wrapBody(map[string]string{"total": `0`}), bad(CodeInvalidAmount, "total")},
		{"minus zero total", wrapBody(map[string]string{"total": `-0`}), bad(CodeInvalidAmount, "total")},
		{"min int64 total", wrapBody(map[string]string{"total": `-9223372036854775808`}), bad(CodeInvalidAmount, "total")},

		// Counts.
		{"fractional count", wrapBody(map[string]string{"count": `1.5`}), bad(CodeInvalidCount, `"count"`)},
		{"exponent count", wrapBody(map[string]string{"count": `1e3`}), bad(CodeInvalidCount, "integer")},
		{"overflowing count", wrapBody(map[string]string{"count": `99999999999999999999`}), bad(CodeInvalidCount, "range")},
		{"count 2^31", wrapBody(map[string]string{"count": `2147483648`}), bad(CodeInvalidCount, "range")},
		{"negative count", wrapBody(map[string]string{"count": `-1`}), bad(CodeInvalidCount, "count")},
		{"zero count", wrapBody(map[string]string{"count": `0`}), bad(CodeInvalidCount, "count")},

		// Strings.
		{"empty request_id", wrapBody(map[string]string{"request_id": `""`}), bad(CodeBadRequest, "request_id")},
		{"request_id 129", wrapBody(map[string]string{"request_id": `"` + strings.Repeat("r", 129) + `"`}), bad(CodeBadRequest, "request_id")},
		{"request_id tab", wrapBody(map[string]string{"request_id": `"c\t1"`}), bad(CodeBadRequest, "request_id")},
		{"request_id NUL", wrapBody(map[string]string{"request_id": `"c\u00001"`}), bad(CodeBadRequest, "request_id")},
		{"request_id non-ASCII", wrapBody(map[string]string{"request_id": `"订单"`}), bad(CodeBadRequest, "request_id")},
		{"empty sender", wrapBody(map[string]string{"sender": `""`}), bad(CodeBadRequest, "sender")},
		{"sender 65", wrapBody(map[string]string{"sender": `"` + strings.Repeat("s", 65) + `"`}), bad(CodeBadRequest, "sender")},
		{"sender with dot", wrapBody(map[string]string{"sender": `"alice.x"`}), bad(CodeBadRequest, "sender")},
		{"sender with star", wrapBody(map[string]string{"sender": `"*"`}), bad(CodeBadRequest, "sender")},
		{"sender with gt", wrapBody(map[string]string{"sender": `">"`}), bad(CodeBadRequest, "sender")},
		{"sender with space", wrapBody(map[string]string{"sender": `"al ice"`}), bad(CodeBadRequest, "sender")},
		{"upper-case kind", wrapBody(map[string]string{"kind": `"LUCKY"`}), bad(CodeBadRequest, "kind")},
		{"empty kind", wrapBody(map[string]string{"kind": `""`}), bad(CodeBadRequest, "kind")},
		{"unknown kind", wrapBody(map[string]string{"kind": `"random"`}), bad(CodeBadRequest, "kind")},
		{"greeting 101 runes", wrapBody(map[string]string{"greeting": `"` + strings.Repeat("a", 101) + `"`}), bad(CodeBadRequest, "greeting")},
		{"greeting 101 CJK", wrapBody(map[string]string{"greeting": `"` + cjk100 + `福"`}), bad(CodeBadRequest, "greeting")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeWrap([]byte(c.body))
			if c.want.code != "" {
				wantCode(t, err, c.want.code, c.want.msg)
				wantEqual(t, got, WrapRequest{})
				return
			}
			wantNoError(t, err)
			wantEqual(t, got, c.want.req)
		})
	}
}

func TestDecodePay(t *testing.T) {
	cases := []struct {
		name string
		body string
		want PayRequest
		code string
	}{
		{"good", `{"payment_id":"p-1","amount":10000}`, PayRequest{PaymentID: "p-1", Amount: 10000}, ""},
		{"one fen", `{"amount":1,"payment_id":"p 1"}`, PayRequest{PaymentID: "p 1", Amount: 1}, ""},
		{"empty body", ``, PayRequest{}, CodeBadRequest},
		{"empty object", `{}`, PayRequest{}, CodeBadRequest},
		{"missing amount", `{"payment_id":"p-1"}`, PayRequest{}, CodeBadRequest},
		{"missing payment_id", `{"amount":1}`, PayRequest{}, CodeBadRequest},
		{"null amount", `{"payment_id":"p-1","amount":null}`, PayRequest{}, CodeBadRequest},
		{"null payment_id", `{"payment_id":null,"amount":1}`, PayRequest{}, CodeBadRequest},
		{"string amount", `{"payment_id":"p-1","amount":"10000"}`, PayRequest{}, CodeBadRequest},
		{"number payment_id", `{"payment_id":1,"amount":1}`, PayRequest{}, CodeBadRequest},
		{"unknown field", `{"payment_id":"p-1","amount":1,"envelope_id":"x"}`, PayRequest{}, CodeBadRequest},
		{"trailing garbage", `{"payment_id":"p-1","amount":1} x`, PayRequest{}, CodeBadRequest},
		{"empty payment_id", `{"payment_id":"","amount":1}`, PayRequest{}, CodeBadRequest},
		{"payment_id 129", `{"payment_id":"` + strings.Repeat("p", 129) + `","amount":1}`, PayRequest{}, CodeBadRequest},
		{"payment_id newline", `{"payment_id":"p\n","amount":1}`, PayRequest{}, CodeBadRequest},
		{"zero amount", `{"payment_id":"p-1","amount":0}`, PayRequest{}, CodeInvalidAmount},
		{"negative amount", `{"payment_id":"p-1","amount":-1}`, PayRequest{}, CodeInvalidAmount},
		{"fractional amount", `{"payment_id":"p-1","amount":100.5}`, PayRequest{}, CodeInvalidAmount},
		{"exponent amount", `{"payment_id":"p-1","amount":1e3}`, PayRequest{}, CodeInvalidAmount},
		{"overflowing amount", `{"payment_id":"p-1","amount":99999999999999999999}`, PayRequest{}, CodeInvalidAmount},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodePay([]byte(c.body))
			if c.code != "" {
				wantCode(t, err, c.code, "")
			} else {
				wantNoError(t, err)
			}
			wantEqual(t, got, c.want)
		})
	}
}

func TestDecodeUser(t *testing.T) {
	cases := []struct {
		name string
		body string
		want string // "" means bad_request
	}{
		{"good", `{"user":"bob"}`, "bob"},
		{"all classes", `{"user":"Az09_-"}`, "Az09_-"},
		{"64 chars", `{"user":"` + strings.Repeat("u", 64) + `"}`, strings.Repeat("u", 64)},
		{"spaces", ` { "user" : "bob" } `, "bob"},
		{"empty body", ``, ""},
		{"empty object", `{}`, ""},
		{"null user", `{"user":null}`, ""},
		{"number user", `{"user":1}`, ""},
		{"array user", `{"user":["bob"]}`, ""},
		{"empty user", `{"user":""}`, ""},
		{"65 chars", `{"user":"` + strings.Repeat("u", 65) + `"}`, ""},
		{"dot", `{"user":"bob.x"}`, ""},
		{"star", `{"user":"bob.*"}`, ""},
		{"gt", `{"user":">"}`, ""},
		{"space", `{"user":"bo b"}`, ""},
		{"non-ASCII", `{"user":"小明"}`, ""},
		{"wrong case name", `{"User":"bob"}`, ""},
		{"duplicate", `{"user":"bob","user":"eve"}`, ""},
		{"unknown field", `{"user":"bob","amount":1}`, ""},
		{"trailing garbage", `{"user":"bob"}garbage`, ""},
		{"array body", `["bob"]`, ""},
		{"over MaxBody", `{"user":"bob"}` + strings.Repeat(" ", MaxBody), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeUser([]byte(c.body))
			if c.want == "" {
				wantCode(t, err, CodeBadRequest, "")
				wantEqual(t, got, UserRequest{})
				return
			}
			wantNoError(t, err)
			wantEqual(t, got, UserRequest{User: c.want})
		})
	}
}

// pagingCases are bodies for get, the user lists and wallet; user is spliced
// in for the lists. ok is false for a bad_request.
var pagingCases = []struct {
	name     string
	members  string // JSON members without braces
	limit    int
	cursor   string
	afterSeq uint64
	ok       bool
	noWallet bool // the case is about after_seq, which wallet does not have
}{
	{name: "defaults", members: ``, limit: 20, ok: true},
	{name: "limit 0 is default", members: `"limit":0`, limit: 20, ok: true},
	{name: "null limit is default", members: `"limit":null`, limit: 20, ok: true},
	{name: "limit 1", members: `"limit":1`, limit: 1, ok: true},
	{name: "limit 100", members: `"limit":100`, limit: 100, ok: true},
	{name: "cursor", members: `"limit":5,"cursor":"abc=="`, limit: 5, cursor: "abc==", ok: true},
	{name: "empty cursor", members: `"cursor":""`, limit: 20, ok: true},
	{name: "cursor 256", members: `"cursor":"` + strings.Repeat("c", 256) + `"`, limit: 20, cursor: strings.Repeat("c", 256), ok: true},
	{name: "after_seq", members: `"after_seq":42`, limit: 20, afterSeq: 42, ok: true, noWallet: true},
	{name: "after_seq 0", members: `"after_seq":0`, limit: 20, ok: true, noWallet: true},
	{name: "after_seq -0", members: `"after_seq":-0`, limit: 20, ok: true, noWallet: true},
	{name: "after_seq max", members: `"after_seq":18446744073709551615`, limit: 20, afterSeq: math.MaxUint64, ok: true, noWallet: true},
	{name: "limit 101", members: `"limit":101`},
	{name: "limit -1", members: `"limit":-1`},
	{name: "limit 1.5", members: `"limit":1.5`},
	{name: "limit 1e1", members: `"limit":1e1`},
	{name: "limit string", members: `"limit":"20"`},
	{name: "limit overflow", members: `"limit":99999999999999999999`},
	{name: "cursor 257", members: `"cursor":"` + strings.Repeat("c", 257) + `"`},
	{name: "cursor non-ASCII", members: `"cursor":"光标"`},
	{name: "cursor control", members: `"cursor":"a\u0001"`},
	{name: "cursor number", members: `"cursor":1`},
	{name: "after_seq -1", members: `"after_seq":-1`, noWallet: true},
	{name: "after_seq 1.5", members: `"after_seq":1.5`, noWallet: true},
	{name: "after_seq string", members: `"after_seq":"42"`, noWallet: true},
	{name: "after_seq overflow", members: `"after_seq":18446744073709551616`, noWallet: true},
	{name: "unknown field", members: `"offset":1`},
	{name: "duplicate limit", members: `"limit":1,"limit":2`},
}

func TestDecodeGet(t *testing.T) {
	for _, c := range pagingCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeGet([]byte("{" + c.members + "}"))
			if !c.ok {
				wantCode(t, err, CodeBadRequest, "")
				wantEqual(t, got, GetRequest{})
				return
			}
			wantNoError(t, err)
			wantEqual(t, got, GetRequest{Limit: c.limit, Cursor: c.cursor, AfterSeq: c.afterSeq})
		})
	}
	t.Run("empty body", func(t *testing.T) {
		got, err := DecodeGet(nil)
		wantNoError(t, err)
		wantEqual(t, got, GetRequest{Limit: DefaultLimit})
	})
	for _, body := range []string{` `, `null`, `[]`, `{"user":"bob"}`, `{}x`, `{"limit":1`} {
		t.Run("bad "+body, func(t *testing.T) {
			_, err := DecodeGet([]byte(body))
			wantCode(t, err, CodeBadRequest, "")
		})
	}
}

func TestDecodeList(t *testing.T) {
	for _, c := range pagingCases {
		t.Run(c.name, func(t *testing.T) {
			members := `"user":"bob"`
			if c.members != "" {
				members += "," + c.members
			}
			got, err := DecodeList([]byte("{" + members + "}"))
			if !c.ok {
				wantCode(t, err, CodeBadRequest, "")
				wantEqual(t, got, ListRequest{})
				return
			}
			wantNoError(t, err)
			wantEqual(t, got, ListRequest{User: "bob", Limit: c.limit, Cursor: c.cursor, AfterSeq: c.afterSeq})
		})
	}
	cases := []struct {
		name string
		body string
		want ListRequest // zero means bad_request
	}{
		{"year", `{"user":"bob","year":2026}`, ListRequest{User: "bob", Year: 2026, Limit: 20}},
		{"year 2000", `{"user":"bob","year":2000}`, ListRequest{User: "bob", Year: 2000, Limit: 20}},
		{"year 9999", `{"user":"bob","year":9999}`, ListRequest{User: "bob", Year: 9999, Limit: 20}},
		{"year 0 is none", `{"user":"bob","year":0}`, ListRequest{User: "bob", Limit: 20}},
		{"null year is none", `{"user":"bob","year":null}`, ListRequest{User: "bob", Limit: 20}},
		{"api.md example", `{"user": "bob", "year": 2026, "limit": 20, "cursor": "", "after_seq": 0}`, ListRequest{User: "bob", Year: 2026, Limit: 20}},
		{"year 1999", `{"user":"bob","year":1999}`, ListRequest{}},
		{"year 10000", `{"user":"bob","year":10000}`, ListRequest{}},
		{"year -2026", `{"user":"bob","year":-2026}`, ListRequest{}},
		{"year 2026.0", `{"user":"bob","year":2026.0}`, ListRequest{}},
		{"year string", `{"user":"bob","year":"2026"}`, ListRequest{}},
		{"empty body", ``, ListRequest{}},
		{"no user", `{"year":2026}`, ListRequest{}},
		{"null user", `{"user":null}`, ListRequest{}},
		{"bad user", `{"user":"bob.*"}`, ListRequest{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeList([]byte(c.body))
			if c.want == (ListRequest{}) {
				wantCode(t, err, CodeBadRequest, "")
			} else {
				wantNoError(t, err)
			}
			wantEqual(t, got, c.want)
		})
	}
}

func TestDecodeWallet(t *testing.T) {
	for _, c := range pagingCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeWallet([]byte("{" + c.members + "}"))
			if !c.ok || c.noWallet {
				wantCode(t, err, CodeBadRequest, "")
				wantEqual(t, got, WalletRequest{})
				return
			}
			wantNoError(t, err)
			wantEqual(t, got, WalletRequest{Limit: c.limit, Cursor: c.cursor})
		})
	}
	t.Run("empty body", func(t *testing.T) {
		got, err := DecodeWallet([]byte{})
		wantNoError(t, err)
		wantEqual(t, got, WalletRequest{Limit: DefaultLimit})
	})
}

// TestUnknownFieldMessageIsClipped keeps error messages small whatever a
// client sends.
func TestUnknownFieldMessageIsClipped(t *testing.T) {
	name := strings.Repeat("名", 1000)
	_, err := DecodeUser([]byte(`{"` + name + `":1}`))
	wantCode(t, err, CodeBadRequest, "unknown field")
	if e, _ := AsError(err); len(e.Message) > 200 {
		t.Fatalf("message of %d bytes", len(e.Message))
	}
}

// BenchmarkDecodeUser: the open/grab body in the encoder's layout (the
// fast path) and with a space (the strict decoder).
func BenchmarkDecodeUser(b *testing.B) {
	for name, body := range map[string][]byte{"fast": []byte(`{"user":"bob"}`), "strict": []byte(`{"user": "bob"}`)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeUser(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeWrap(b *testing.B) {
	body := []byte(wrapBody(nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeWrap(body); err != nil {
			b.Fatal(err)
		}
	}
}
