package api

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
)

// The fuzz targets check invariant 1 of the package doc: a decoder returns
// either a request that keeps every documented rule (re-checked here, and
// re-encoding it decodes to the same request) or an *Error with status 400
// and a zero request. The seed corpus is in testdata/fuzz/<target>.

// want400 fails unless err is an unwrapped *Error with a 400 code.
func want400(t *testing.T, err error) {
	t.Helper()
	e, ok := err.(*Error)
	if !ok || e == nil {
		t.Fatalf("error %T %v is not an *Error", err, err)
	}
	switch e.Code {
	case CodeBadRequest, CodeInvalidAmount, CodeInvalidCount, CodeInvalidID:
	default:
		t.Fatalf("code %s is not a 400 code", e.Code)
	}
	if e.Status != 400 {
		t.Fatalf("status %d, want 400 (%v)", e.Status, e)
	}
}

// wantBody checks what every accepted body is.
func wantBody(t *testing.T, b []byte) {
	t.Helper()
	if len(b) > MaxBody || !utf8.Valid(b) {
		t.Fatalf("accepted a body of %d bytes, valid UTF-8 %v", len(b), utf8.Valid(b))
	}
}

// roundTrip encodes r with its json tags and checks that decode gives r back.
func roundTrip[R comparable](t *testing.T, r R, decode func([]byte) (R, error)) {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal %#v: %v", r, err)
	}
	got, err := decode(b)
	if err != nil {
		t.Fatalf("re-decoding %s: %v", b, err)
	}
	if got != r {
		t.Fatalf("round trip of %s:\n got %#v\nwant %#v", b, got, r)
	}
}

func wantPaging(t *testing.T, limit int, cursor string) {
	t.Helper()
	if limit < 1 || limit > MaxLimit {
		t.Fatalf("limit %d out of 1..%d", limit, MaxLimit)
	}
	if len(cursor) > MaxCursorLen || !printableASCII(cursor) {
		t.Fatalf("bad cursor %q", cursor)
	}
}

func FuzzDecodeWrap(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeWrap(b)
		if err != nil {
			want400(t, err)
			if r != (WrapRequest{}) {
				t.Fatalf("error %v with a non-zero request %#v", err, r)
			}
			return
		}
		wantBody(t, b)
		if !ValidRequestID(r.RequestID) || !ValidUser(r.Sender) {
			t.Fatalf("bad request_id %q or sender %q", r.RequestID, r.Sender)
		}
		if r.Kind != KindLucky && r.Kind != KindEqual {
			t.Fatalf("bad kind %q", r.Kind)
		}
		if r.Total < 1 || r.Count < 1 || r.Count > math.MaxInt32 {
			t.Fatalf("bad total %d or count %d", r.Total, r.Count)
		}
		if !utf8.ValidString(r.Greeting) || utf8.RuneCountInString(r.Greeting) > MaxGreetingRunes {
			t.Fatalf("bad greeting %q", r.Greeting)
		}
		roundTrip(t, r, DecodeWrap)
	})
}

func FuzzDecodePay(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodePay(b)
		if err != nil {
			want400(t, err)
			if r != (PayRequest{}) {
				t.Fatalf("error %v with a non-zero request %#v", err, r)
			}
			return
		}
		wantBody(t, b)
		if !ValidRequestID(r.PaymentID) || r.Amount < 1 {
			t.Fatalf("bad payment_id %q or amount %d", r.PaymentID, r.Amount)
		}
		roundTrip(t, r, DecodePay)
	})
}

func FuzzDecodeUser(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeUser(b)
		if err != nil {
			want400(t, err)
			if r != (UserRequest{}) {
				t.Fatalf("error %v with a non-zero request %#v", err, r)
			}
			return
		}
		wantBody(t, b)
		if !ValidUser(r.User) || strings.ContainsAny(r.User, ".*> \t\r\n") {
			t.Fatalf("bad user %q", r.User)
		}
		roundTrip(t, r, DecodeUser)
	})
}

// FuzzDecodeUserFastMatchesStrict: whenever the fast path decodes a body,
// the strict decoder decodes it to the same user.
func FuzzDecodeUserFastMatchesStrict(f *testing.F) {
	for _, s := range []string{`{"user":"bob"}`, `{"user":"b\u006fb"}`, `{"user":"bob","user":"x"}`, `{"user":"a"}x"}`,
		`{"user":""}`, `{"user":"bob" }`, `{"user":"` + strings.Repeat("a", MaxUserLen+1) + `"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		u, ok := decodeUserFast(b)
		if !ok {
			return
		}
		r, err := decodeUserStrict(b)
		if err != nil || r.User != u {
			t.Fatalf("fast path %q, strict %q, %v", u, r.User, err)
		}
	})
}

func FuzzDecodeGet(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeGet(b)
		if err != nil {
			want400(t, err)
			if e := err.(*Error); e.Code != CodeBadRequest {
				t.Fatalf("get answered %s, want only bad_request", e.Code)
			}
			if r != (GetRequest{}) {
				t.Fatalf("error %v with a non-zero request %#v", err, r)
			}
			return
		}
		wantBody(t, b)
		wantPaging(t, r.Limit, r.Cursor)
		roundTrip(t, r, DecodeGet)

		// The list and wallet decoders share the paging rules: a get body
		// is a wallet body unless it has after_seq, and a list body once a
		// user is added.
		w, err := DecodeWallet(b)
		switch {
		case err == nil:
			if w.Limit != r.Limit || w.Cursor != r.Cursor {
				t.Fatalf("wallet %#v disagrees with get %#v", w, r)
			}
		case !strings.Contains(err.Error(), `unknown field "after_seq"`):
			t.Fatalf("wallet rejected a good get body: %v", err)
		}
		obj := bytes.TrimLeft(b, " \t\r\n")
		if len(obj) == 0 { // the empty body: a list request needs a user
			return
		}
		if obj[0] != '{' {
			t.Fatalf("accepted get body %q is not an object", b)
		}
		rest := bytes.TrimLeft(obj[1:], " \t\r\n")
		sep := ","
		if rest[0] == '}' {
			sep = ""
		}
		list := []byte(`{"user":"u"` + sep + string(rest))
		if len(list) > MaxBody {
			return
		}
		if l, err := DecodeList(list); err != nil {
			t.Fatalf("list rejected %s although get took it: %v", list, err)
		} else if l.Limit != r.Limit || l.Cursor != r.Cursor || l.AfterSeq != r.AfterSeq {
			t.Fatalf("list %#v disagrees with get %#v", l, r)
		}
	})
}

func FuzzEnvelopeIDFromSubject(f *testing.F) {
	const head = "hongbao.open."
	f.Fuzz(func(t *testing.T, subject string) {
		id, err := EnvelopeIDFromSubject(subject, "hongbao", "open")

		// Reference: oklog/ulid parses the token and prints it back
		// unchanged exactly when it is a canonical ULID.
		token, hasHead := strings.CutPrefix(subject, head)
		u, perr := ulid.ParseStrict(token)
		canonical := hasHead && perr == nil && u.String() == token

		if err != nil {
			want400(t, err)
			if e := err.(*Error); e.Code != CodeInvalidID || id != "" {
				t.Fatalf("got %q, %v; want invalid_id", id, err)
			}
			if canonical {
				t.Fatalf("rejected canonical subject %q: %v", subject, err)
			}
		} else {
			if !canonical || !ValidEnvelopeID(id) || subject != head+id {
				t.Fatalf("accepted %q as id %q", subject, id)
			}
			if strings.ContainsAny(id, ".*> \t\r\n") {
				t.Fatalf("id %q can reach into a subject", id)
			}
		}

		user, err := UserFromSubject(subject, "hongbao", "open")
		if err != nil {
			want400(t, err)
			return
		}
		if !ValidUser(user) || subject != head+user {
			t.Fatalf("accepted %q as user %q", subject, user)
		}
	})
}

// TestSeedCorpus keeps the seed corpus honest: a seed whose file name
// starts with "good" must be accepted, every other seed rejected.
func TestSeedCorpus(t *testing.T) {
	decoders := map[string]func(string) error{
		"FuzzDecodeWrap": func(s string) error { _, err := DecodeWrap([]byte(s)); return err },
		"FuzzDecodePay":  func(s string) error { _, err := DecodePay([]byte(s)); return err },
		"FuzzDecodeUser": func(s string) error { _, err := DecodeUser([]byte(s)); return err },
		"FuzzDecodeGet":  func(s string) error { _, err := DecodeGet([]byte(s)); return err },
		"FuzzEnvelopeIDFromSubject": func(s string) error {
			_, err := EnvelopeIDFromSubject(s, "hongbao", "open")
			return err
		},
	}
	for target, decode := range decoders {
		files, err := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
		if err != nil || len(files) < 5 {
			t.Fatalf("%s: %d seeds (%v)", target, len(files), err)
		}
		for _, file := range files {
			name := filepath.Base(file)
			t.Run(target+"/"+name, func(t *testing.T) {
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				header, lit, ok := strings.Cut(strings.TrimSuffix(string(b), "\n"), "\n")
				if !ok || header != "go test fuzz v1" {
					t.Fatalf("not a corpus file: %q", b)
				}
				lit, ok = strings.CutPrefix(lit, "[]byte(")
				if !ok {
					lit, _ = strings.CutPrefix(lit, "string(")
				}
				s, err := strconv.Unquote(strings.TrimSuffix(lit, ")"))
				if err != nil {
					t.Fatalf("literal %s: %v", lit, err)
				}
				good := strings.HasPrefix(name, "good")
				err = decode(s)
				if good && err != nil {
					t.Fatalf("good seed rejected: %v", err)
				}
				if !good && err == nil {
					t.Fatalf("bad seed %q accepted", s)
				}
			})
		}
	}
}
