package client

import (
	"testing"

	"github.com/nats-io/nats.go"
)

// TestParseOpen: the scanner reads every reply shape of open as the
// service writes it, and anything else (spaces, escapes, floats) falls
// back to encoding/json with the same result.
func TestParseOpen(t *testing.T) {
	for _, tc := range []struct {
		body string
		want OpenResult
	}{
		{`{"status":"opened","amount":1234,"index":3,"remaining_count":7,"seq":42}`, OpenResult{StatusOpened, 1234, 3, 7, 42}},
		{`{"status":"opened","amount":1,"index":10,"remaining_count":0,"seq":9}`, OpenResult{StatusOpened, 1, 10, 0, 9}},
		{`{"status":"already_opened","amount":1234,"index":3}`, OpenResult{Status: StatusAlreadyOpened, Amount: 1234, Index: 3}},
		{`{"status":"exhausted"}`, OpenResult{Status: StatusExhausted}},
		{`{ "status" : "expired" }`, OpenResult{Status: StatusExpired}},
		{`{"status":"opened","amount":5,"extra":{"x":[1,2]},"seq":3}`, OpenResult{Status: StatusOpened, Amount: 5, Seq: 3}},
		{`{"status":"new\u0073tatus"}`, OpenResult{Status: "newstatus"}},
	} {
		got, err := decodeOpen("s", &nats.Msg{Data: []byte(tc.body)})
		if err != nil || got != tc.want {
			t.Errorf("%s: %+v %v, want %+v", tc.body, got, err, tc.want)
		}
	}
	for _, bad := range []string{``, `{}`, `{"amount":1}`, `[1]`, `{"status":"opened","amount":1.5}`, `{"status":`} {
		if got, err := decodeOpen("s", &nats.Msg{Data: []byte(bad)}); err == nil {
			t.Errorf("%q: %+v, want an error", bad, got)
		}
	}
}

// TestHotPathAllocations: encoding a user body into a pooled buffer and
// decoding an open reply allocate nothing.
func TestHotPathAllocations(t *testing.T) {
	body := []byte(`{"status":"opened","amount":1234,"index":3,"remaining_count":7,"seq":42}`)
	if n := testing.AllocsPerRun(100, func() {
		if r, ok := parseOpen(body); !ok || r.Seq != 42 {
			t.Fatal("parse")
		}
	}); n != 0 {
		t.Errorf("parseOpen: %v allocations", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		bp := getBuf()
		*bp = userBody((*bp)[:0], "user_123")
		putBuf(bp)
	}); n != 0 {
		t.Errorf("userBody: %v allocations", n)
	}
}

// TestAppendString: request strings are valid JSON whatever they hold.
func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"bob":     `"bob"`,
		`a"b\c`:   `"a\"b\\c"`,
		"恭喜":      `"恭喜"`,
		"x\ny":    `"x\ny"`,
		"<tag>&":  `"<tag>&"`,
		"":        `""`,
		"tab\tme": `"tab\tme"`,
	} {
		if got := string(appendString(nil, in)); got != want {
			t.Errorf("%q: %s, want %s", in, got, want)
		}
	}
}
