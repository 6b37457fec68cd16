package service_test

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/service"
)

// TestHostileOversized: a body over api.MaxBody (64 KiB) is 400
// bad_request on every endpoint, before any work.
func TestHostileOversized(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	id := h.WrapAndPay("lucky", 1000, 2)
	pad := strings.Repeat(" ", api.MaxBody) // valid JSON, only too long
	for _, c := range []struct{ subject, body string }{
		{"hongbao.wrap", `{"request_id":"r","sender":"a","kind":"lucky","total":100,"count":1}` + pad},
		{"hongbao.pay." + id, `{"payment_id":"p","amount":1000}` + pad},
		{"hongbao.grab." + id, `{"user":"bob"}` + pad},
		{"hongbao.open." + id, `{"user":"bob"}` + pad},
		{"hongbao.get." + id, `{}` + pad},
		{"hongbao.user.received", `{"user":"bob","year":2026}` + pad},
		{"hongbao.user.sent", `{"user":"bob","year":2026}` + pad},
		{"hongbao.wallet.bob", `{}` + pad},
		{"hongbao.wrap", `{"request_id":"r","sender":"a","kind":"lucky","total":100,"count":1,"greeting":"` + strings.Repeat("福", 30_000) + `"}`},
	} {
		h.ExpectError(h.Request(c.subject, c.body), "400", api.CodeBadRequest)
	}
	testenv.Eq(t, "opens after oversized bodies", len(h.Stored(id).Opens), 0)
}

// TestHostileWrapStorm: 200 concurrent wraps with one sender + request_id
// create one envelope, and every reply is the same bytes.
func TestHostileWrapStorm(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	body := []byte(`{"request_id":"storm-1","sender":"alice","kind":"lucky","total":1000,"count":10,"greeting":"恭喜发财"}`)
	const n = 200
	replies := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := h.NC.Request("hongbao.wrap", body, testenv.RequestTimeout)
			if err != nil {
				t.Errorf("wrap %d: %v", i, err)
				return
			}
			r := testenv.ParseReply(t, m)
			if r.Status != "" {
				t.Errorf("wrap %d: %s %s", i, r.Status, r.Code)
			}
			replies[i] = m.Data
		}()
	}
	wg.Wait()
	for i, r := range replies {
		if !bytes.Equal(r, replies[0]) {
			t.Fatalf("reply %d %s differs from reply 0 %s", i, r, replies[0])
		}
	}
	w := testenv.Decode[api.WrapReply](t, testenv.Reply{Data: replies[0]})
	testenv.Eq(t, "events of the storm's envelope", h.Stored(w.EnvelopeID).Version, 1)
}

// TestHostileUnicode: greetings keep any valid UTF-8 (control characters,
// bidi overrides, zero-width and combining characters, emoji) byte for
// byte and count characters, not bytes; invalid UTF-8 is 400. User and
// sender names outside [A-Za-z0-9_-] (look-alikes, zero-width, control,
// full-width) are 400.
func TestHostileUnicode(t *testing.T) {
	h := testenv.Start(t, service.Config{}, testenv.WithoutProjections())
	odd := "\x00\x07\t\n\u202e\u200b\u200de\u0301\ufeff😀🧧\U0010FFFF<script>\"\\"
	for i, g := range []string{odd, strings.Repeat("😀", api.MaxGreetingRunes)} {
		id := testenv.Decode[api.WrapReply](t, h.Request("hongbao.wrap", map[string]any{"request_id": fmt.Sprintf("u-%d", i), "sender": "alice",
			"kind": "equal", "total": 100, "count": 1, "greeting": g})).EnvelopeID
		testenv.Eq(t, "greeting stored", h.Stored(id).Greeting, g)
		testenv.Eq(t, "greeting served", h.Get(id, 0).Envelope.Greeting, g)
	}
	for _, c := range []struct{ body, code string }{
		{`{"request_id":"u3","sender":"alice","kind":"equal","total":100,"count":1,"greeting":"` + strings.Repeat("😀", api.MaxGreetingRunes+1) + `"}`, api.CodeBadRequest},
		{"{\"request_id\":\"u4\",\"sender\":\"alice\",\"kind\":\"equal\",\"total\":100,\"count\":1,\"greeting\":\"\xff\xfe\"}", api.CodeBadRequest},
		{"{\"request_id\":\"u5\",\"sender\":\"alice\",\"kind\":\"equal\",\"total\":100,\"count\":1,\"greeting\":\"a\x01b\"}", api.CodeBadRequest}, // raw control byte: not JSON
		{`{"request_id":"u6\u0000","sender":"alice","kind":"equal","total":100,"count":1}`, api.CodeBadRequest},
	} {
		h.ExpectError(h.Request("hongbao.wrap", c.body), "400", c.code)
	}
	id := h.WrapAndPay("equal", 100, 1)
	for _, u := range []string{"аlice" /* Cyrillic а */, "bob\u200b", "bob\u0000", "ｂｏｂ", "bob\n", "", strings.Repeat("b", api.MaxUserLen+1), "b ob", "bob\u202e"} {
		h.ExpectError(h.Request("hongbao.open."+id, map[string]any{"user": u}), "400", api.CodeBadRequest)
		h.ExpectError(h.Request("hongbao.wrap", map[string]any{"request_id": "x", "sender": u, "kind": "equal", "total": 100, "count": 1}), "400", api.CodeBadRequest)
	}
	testenv.Eq(t, "opens after odd names", len(h.Stored(id).Opens), 0)
}

// TestHostileSubjects: ids crafted to hit subject wildcards or add tokens
// never reach a handler as an id: a literal * or > in a request subject
// (which NATS delivers to the endpoint's wildcard subscription like any
// token), or a dot that adds a token, is 400 invalid_id for envelope
// endpoints and 400 bad_request for wallet's user name.
func TestHostileSubjects(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	id := h.WrapAndPay("lucky", 1000, 2)
	for _, s := range []string{
		"hongbao.open.*", "hongbao.open.>", "hongbao.open." + id + ".>", "hongbao.open." + id + ".*",
		"hongbao.open." + id[:10] + "*", "hongbao.open." + id[:25] + ">",
		"hongbao.open." + id + "." + id, "hongbao.grab.*", "hongbao.pay.>", "hongbao.get." + id + ".x",
		"hongbao.wallet.*", "hongbao.wallet.>", "hongbao.wallet.bob.x", "hongbao.wallet.b*b",
	} {
		want := api.CodeInvalidID
		if strings.HasPrefix(s, "hongbao.wallet.") {
			want = api.CodeBadRequest // a user name, not an envelope id
		}
		h.ExpectError(h.Request(s, `{"user":"bob","payment_id":"p","amount":1000}`), "400", want)
	}
	testenv.Eq(t, "opens after crafted subjects", len(h.Stored(id).Opens), 0)
}
