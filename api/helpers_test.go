package api

import (
	"strings"
	"testing"
)

// wantCode fails unless err is an *Error with the given code, the status
// the contract gives that code and, when msg is not empty, a message that
// contains msg.
func wantCode(t *testing.T, err error, code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	e, ok := AsError(err)
	if !ok {
		t.Fatalf("got %T %v, want an *Error %s", err, err, code)
	}
	if e.Code != code {
		t.Fatalf("got code %s (%v), want %s", e.Code, e, code)
	}
	if e.Status != StatusFor(code) {
		t.Fatalf("got status %d for %s, want %d", e.Status, code, StatusFor(code))
	}
	if msg != "" && !strings.Contains(e.Message, msg) {
		t.Fatalf("message %q does not mention %q", e.Message, msg)
	}
}

// wantNoError fails when err is not nil.
func wantNoError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantEqual fails unless got == want.
func wantEqual[T comparable](t *testing.T, got, want T) {
	t.Helper()
	if got != want {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}
