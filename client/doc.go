// Package client is the typed Go client of hongbao's request/reply API
// (docs/api.md; the contract is design/api.md, v1 and v1.1): one method per
// endpoint, typed requests and results (amounts in integer fen, times as
// time.Time), typed errors for every machine code, context deadlines, safe
// retries of 503 answers, and read-your-writes helpers.
//
//	c, err := client.Connect("nats://127.0.0.1:4222", "client.creds")
//	w, err := c.Wrap(ctx, client.WrapRequest{Sender: "alice", Kind: client.Lucky, Total: 10000, Count: 10})
//	_, err = c.Pay(ctx, w.EnvelopeID, "p-1", 10000)
//	o, err := c.Open(ctx, w.EnvelopeID, "bob")
//	g, err := c.GetAfter(ctx, w.EnvelopeID, o.Seq) // reflects bob's open
//
// It is self-contained: it imports nats.go (and nuid) but none of the
// service's packages, so that applications outside this module can use it.
//
// Invariants:
//
//  1. Business outcomes are results, not errors: an envelope that ran out
//     is OpenResult{Status: StatusExhausted}, a user who opened already is
//     StatusAlreadyOpened (with the earlier amount), a campaign without
//     tickets is ShakeResult{Status: StatusNone}. An error is either an
//     *Error (the service answered with a machine code; errors.Is matches
//     the Err… sentinels by code) or a transport error (nats.ErrTimeout,
//     nats.ErrNoResponders, context errors), wrapped with the subject.
//  2. A retry resends exactly the same request: the same subject and the
//     same body bytes, so the same request_id, payment_id or user. Only
//     answers whose outcome the contract calls safe to retry are retried:
//     503 unavailable, 503 overloaded, and no responders (the request
//     reached no instance). A retried open may answer already_opened: the
//     first attempt opened it, and the result carries that amount.
//  3. Every call is bounded: by ctx when it has a deadline earlier than the
//     client's timeout, else by the timeout (WithTimeout, default 5 s),
//     retries and their backoff included.
//  4. The hot calls (Grab, Open, Shake, CampaignOpen, Wrap, Pay) encode
//     their bodies into pooled buffers and decode the service's replies
//     with a scanner that does not allocate for known statuses; anything
//     the scanner does not expect falls back to encoding/json.
//  5. A *Client is safe for concurrent use by many goroutines.
package client
