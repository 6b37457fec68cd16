package service_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"

	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/service"
)

// TestMicroStats: what `nats micro stats` shows counts the failed
// requests: an error decided in the handler in micro's num_errors and
// last_error, one decided later (in the mailbox) in the endpoint's
// async_errors.
func TestMicroStats(t *testing.T) {
	h := testenv.Start(t, service.Config{})
	id := h.WrapAndPay("equal", 300, 3)
	h.Open(id, "bob")
	h.ExpectError(h.Request("hongbao.open."+id, `{"user":"bob.*"}`), "400", api.CodeBadRequest)
	h.ExpectError(h.Request("hongbao.open."+id, `{"user":`), "400", api.CodeBadRequest)
	h.ExpectError(h.Request("hongbao.pay."+ulid.Make().String(), `{"payment_id":"p-9","amount":300}`), "404", api.CodeNotFound)

	eps := h.MicroStats(h.Svc)
	open, pay := eps["open"], eps["pay"]
	if open == nil || pay == nil {
		t.Fatalf("endpoints %v", eps)
	}
	if open.NumRequests != 3 || open.NumErrors != 2 || !strings.HasPrefix(open.LastError, "400:") {
		t.Fatalf("open: %d requests, %d errors, last %q; want 3, 2, 400:…", open.NumRequests, open.NumErrors, open.LastError)
	}
	var late service.LateErrors
	if err := json.Unmarshal(pay.Data, &late); err != nil {
		t.Fatalf("pay data %s: %v", pay.Data, err)
	}
	if pay.NumRequests != 2 || pay.NumErrors != 0 || late.AsyncErrors != 1 || !strings.HasPrefix(late.LastAsyncError, "404:") {
		t.Fatalf("pay: %d requests, %d errors, data %s; want 2, 0, one async 404", pay.NumRequests, pay.NumErrors, pay.Data)
	}
	if err := json.Unmarshal(open.Data, &late); err != nil || late.AsyncErrors != 0 {
		t.Fatalf("open data %s: %v", open.Data, err)
	}
}
