package client

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultPrefix is the contract's subject prefix.
const DefaultPrefix = "hongbao"

// DefaultTimeout bounds a call whose context has no earlier deadline.
const DefaultTimeout = 5 * time.Second

// RetryPolicy says how often a call is sent again after an answer that is
// safe to retry (503 unavailable or overloaded, no responders), and how
// long to wait in between: Backoff before the second attempt, doubling up
// to MaxBackoff, each wait drawn at random from its upper half. A call
// never outlives its context or timeout for a retry.
type RetryPolicy struct {
	Attempts   int           // attempts in all, the first included; < 2 means no retry
	Backoff    time.Duration // wait before the second attempt
	MaxBackoff time.Duration // longest wait
}

// DefaultRetry is the retry policy of New: up to 4 attempts, waiting
// 20 ms, 40 ms, 80 ms (each at most, at least half).
var DefaultRetry = RetryPolicy{Attempts: 4, Backoff: 20 * time.Millisecond, MaxBackoff: time.Second}

// NoRetry sends every request once.
var NoRetry = RetryPolicy{Attempts: 1}

// Option configures a Client.
type Option func(*Client)

// WithPrefix sets the subject prefix (default "hongbao").
func WithPrefix(prefix string) Option { return func(c *Client) { c.prefix = prefix } }

// WithTimeout bounds every call, retries included, when its context has
// no earlier deadline (default DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithRetry sets the retry policy (default DefaultRetry).
func WithRetry(p RetryPolicy) Option { return func(c *Client) { c.retry = p } }

// Client calls hongbao over a NATS connection. It is safe for concurrent
// use.
type Client struct {
	nc      *nats.Conn
	owned   bool // Close closes nc (Connect)
	prefix  string
	timeout time.Duration
	retry   RetryPolicy
}

// New returns a client that sends its requests on nc.
func New(nc *nats.Conn, opts ...Option) *Client {
	c := &Client{nc: nc, prefix: DefaultPrefix, timeout: DefaultTimeout, retry: DefaultRetry}
	for _, o := range opts {
		o(c)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c
}

// Connect connects to the NATS server(s) at url (comma-separated) with the
// credentials file credsFile (`hongbao serve` writes client.creds under
// <data>/auth; empty: no credentials) and returns a client that owns the
// connection: Close closes it.
func Connect(url, credsFile string, opts ...Option) (*Client, error) {
	nopts := []nats.Option{nats.Name("hongbao-client")}
	if credsFile != "" {
		nopts = append(nopts, nats.UserCredentials(credsFile))
	}
	nc, err := nats.Connect(url, nopts...)
	if err != nil {
		return nil, fmt.Errorf("hongbao: connect: %w", err)
	}
	c := New(nc, opts...)
	c.owned = true
	return c, nil
}

// Conn returns the client's NATS connection.
func (c *Client) Conn() *nats.Conn { return c.nc }

// Prefix returns the subject prefix.
func (c *Client) Prefix() string { return c.prefix }

// Close closes the connection if Connect opened it; a client made by New
// leaves its connection to the caller.
func (c *Client) Close() {
	if c.owned {
		c.nc.Close()
	}
}

// subject returns prefix.verb or prefix.verb.token.
func (c *Client) subject(verb, token string) string {
	if token == "" {
		return c.prefix + "." + verb
	}
	return c.prefix + "." + verb + "." + token
}

// bufs holds request body buffers.
var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func getBuf() *[]byte { return bufs.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return
	}
	*b = (*b)[:0]
	bufs.Put(b)
}

// call sends body to subject and returns the successful reply, or an
// *Error, or a transport error, retrying per the policy.
func (c *Client) call(ctx context.Context, subject string, body []byte) (*nats.Msg, error) {
	msg := nats.Msg{Subject: subject, Data: body}
	// A context that can end: bound it by the timeout unless it ends sooner.
	var deadline time.Time
	if ctx.Done() != nil {
		if dl, ok := ctx.Deadline(); !ok || time.Until(dl) > c.timeout {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.timeout)
			defer cancel()
		}
	} else {
		deadline = time.Now().Add(c.timeout)
	}
	for attempt := 1; ; attempt++ {
		m, err := c.once(ctx, &msg, deadline)
		if err == nil {
			if e := replyError(subject, m); e != nil {
				err = e
			} else {
				return m, nil
			}
		} else {
			err = fmt.Errorf("hongbao: %s: %w", subject, err)
		}
		if attempt >= c.retry.Attempts || !retryable(err) {
			return nil, err
		}
		if !c.backoff(ctx, attempt, deadline) {
			return nil, err
		}
	}
}

// once sends one attempt: on a context that cannot end, bounded by
// deadline (RequestMsg, no context allocated); else by ctx.
func (c *Client) once(ctx context.Context, msg *nats.Msg, deadline time.Time) (*nats.Msg, error) {
	if ctx.Done() == nil {
		d := time.Until(deadline)
		if d <= 0 {
			return nil, nats.ErrTimeout
		}
		return c.nc.RequestMsg(msg, d)
	}
	return c.nc.RequestMsgWithContext(ctx, msg)
}

// retryable: the contract says retrying the same request is safe.
func retryable(err error) bool {
	var e *Error
	if errors.As(err, &e) {
		return e.Status == 503
	}
	return errors.Is(err, nats.ErrNoResponders)
}

// backoff waits before attempt+1; false when the call's bound would pass
// first.
func (c *Client) backoff(ctx context.Context, attempt int, deadline time.Time) bool {
	d := c.retry.Backoff
	for i := 1; i < attempt && d < c.retry.MaxBackoff; i++ {
		d *= 2
	}
	if c.retry.MaxBackoff > 0 {
		d = min(d, c.retry.MaxBackoff)
	}
	if d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	if dl, ok := ctx.Deadline(); ok {
		deadline = dl
	}
	if !deadline.IsZero() && time.Until(deadline) <= d {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
