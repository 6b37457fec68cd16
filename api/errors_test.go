package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestErrorfStatus(t *testing.T) {
	cases := []struct {
		code   string
		status int
	}{
		{CodeBadRequest, 400},
		{CodeInvalidAmount, 400},
		{CodeInvalidCount, 400},
		{CodeInvalidID, 400},
		{CodeNotFound, 404},
		{CodeConflict, 409},
		{CodeNotLive, 409},
		{CodeBusy, 429},
		{CodeUnavailable, 503},
		{CodeForbidden, 403},
		{CodeRateLimited, 429},
		{CodeOverloaded, 503},
		{CodeCorrupt, 500},
		{"no_such_code", 500},
	}
	for _, c := range cases {
		t.Run(c.code, func(t *testing.T) {
			e := Errorf(c.code, "n=%d", 7)
			wantEqual(t, e.Status, c.status)
			wantEqual(t, e.Code, c.code)
			wantEqual(t, e.Message, "n=7")
			wantEqual(t, e.Error(), "api: "+c.code+": n=7")
		})
	}
}

func TestErrorBody(t *testing.T) {
	e := Errorf(CodeNotFound, "no envelope %q", "01J<&>")
	var got struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(e.Body()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("body %s: %v", e.Body(), err)
	}
	wantEqual(t, got.Error.Code, CodeNotFound)
	wantEqual(t, got.Error.Message, `no envelope "01J<&>"`)
	wantEqual(t, string(Errorf(CodeBusy, "later").Body()), `{"error":{"code":"busy","message":"later"}}`)
}

func TestAsError(t *testing.T) {
	e := Errorf(CodeConflict, "request_id reused")
	wrapped := fmt.Errorf("service: wrap: %w", e)
	got, ok := AsError(wrapped)
	if !ok || got != e {
		t.Fatalf("AsError(%v) = %v, %v", wrapped, got, ok)
	}
	got, ok = AsError(e)
	if !ok || got != e {
		t.Fatalf("AsError(e) = %v, %v", got, ok)
	}
	for _, err := range []error{nil, errors.New("plain"), (*Error)(nil)} {
		if got, ok := AsError(err); ok || got != nil {
			t.Fatalf("AsError(%#v) = %v, %v", err, got, ok)
		}
	}
}

func TestErrorBodyRetryAfter(t *testing.T) {
	e := RateLimited(250*time.Millisecond, "user %s: too many opens", "bob")
	wantEqual(t, e.Status, 429)
	wantEqual(t, string(e.Body()), `{"error":{"code":"rate_limited","message":"user bob: too many opens","retry_after_ms":250}}`)
	// Rounded up, never 0: a client told 0 would retry at once.
	wantEqual(t, RateLimited(1500*time.Microsecond, "x").RetryAfterMs, int64(2))
	wantEqual(t, RateLimited(0, "x").RetryAfterMs, int64(1))
	// A v1 client's decoder (code and message only, unknown fields
	// ignored as encoding/json does by default) reads it as before.
	var v1 struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(e.Body(), &v1); err != nil {
		t.Fatal(err)
	}
	wantEqual(t, v1.Error.Code, CodeRateLimited)
	// Other errors keep the v1 body exactly.
	wantEqual(t, string(Errorf(CodeForbidden, "blocked").Body()), `{"error":{"code":"forbidden","message":"blocked"}}`)
	wantEqual(t, string(Errorf(CodeOverloaded, "shed").Body()), `{"error":{"code":"overloaded","message":"shed"}}`)
}
