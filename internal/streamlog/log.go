package streamlog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/hongbao/hongbao/internal/seal"
)

// Log is a stream of per-key subjects with conditional, at-most-once
// appends. The envelope store keeps envelopes' events on one, the ledger
// its escrow accounts.
type Log struct {
	stream         jetstream.Stream
	attemptTimeout time.Duration
	logger         *slog.Logger
	conn           *nats.Conn // sends a batch's messages before its commit
	// publish is js.PublishMsg; tests wrap it to lose acknowledgements.
	publish Publish
	// publishBounded: publish ends each attempt within attemptTimeout by
	// itself (the asynchronous publisher's ack timeout).
	publishBounded bool
	signer         *seal.Signer // nil: appends are not sealed
	links          links
}

// EnsureStream binds to the stream cfg names if it exists, leaving its
// settings as the operator left them (replicas, delete policy), and creates
// it from cfg otherwise. Tools that open a stream with default settings
// must never reconfigure a production one.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, cfg.Name)
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, err
	}
	st, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.Stream(ctx, cfg.Name) // created meanwhile by another instance
	}
	return st, err
}

// Publish publishes a message and waits for its acknowledgement, as
// jetstream.JetStream.PublishMsg does.
type Publish func(context.Context, *nats.Msg, ...jetstream.PublishOpt) (*jetstream.PubAck, error)

// WrapPublish replaces how the log publishes with wrap of it, for fault
// injection (tests lose acknowledgements through it). Call it before the
// log is used. A wrapped publish is given a context that ends with the
// attempt.
func (l *Log) WrapPublish(wrap func(Publish) Publish) {
	l.publish, l.publishBounded = wrap(l.publish), false
}

// Msg is one stored message of a subject.
type Msg struct {
	Seq    uint64
	Data   []byte
	Time   time.Time
	Header nats.Header // the seal headers, among others
}

// NewLog appends to and loads from stream through js. attemptTimeout bounds
// one publish attempt (0: 2 s); logger may be nil.
func NewLog(js jetstream.JetStream, stream jetstream.Stream, attemptTimeout time.Duration, logger *slog.Logger) *Log {
	if attemptTimeout == 0 {
		attemptTimeout = 2 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	l := &Log{stream: stream, attemptTimeout: attemptTimeout, logger: logger, publish: js.PublishMsg, conn: js.Conn()}
	// Appends are published asynchronously and their acks awaited, which
	// frees the connection from one request/response exchange per append:
	// spread at the default sync interval went from 0.33-0.35 to
	// 0.42-0.44 of the transport ceiling. A publish needs no API prefix or
	// domain, so a context of our own on the same connection will do; its
	// timeout drops a future whose ack never comes.
	if pub, err := jetstream.New(js.Conn(), jetstream.WithPublishAsyncTimeout(attemptTimeout),
		jetstream.WithPublishAsyncMaxPending(maxAppendsInFlight)); err == nil {
		l.publish, l.publishBounded = awaitAsync(pub), true
	}
	return l
}

// publishAttempt is one attempt of publish, bounded by the attempt timeout:
// the asynchronous publisher's own timeout bounds it already, sparing a
// timer per append (they were a tenth of an open's cost in the service).
func (l *Log) publishAttempt(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if l.publishBounded {
		return l.publish(ctx, m, opts...)
	}
	actx, cancel := context.WithTimeout(ctx, l.attemptTimeout)
	defer cancel()
	return l.publish(actx, m, opts...)
}

// maxAppendsInFlight bounds the appends awaiting their ack on one Log; past
// it an append waits briefly and then fails as retryable.
const maxAppendsInFlight = 1 << 16

// awaitAsync publishes through js's asynchronous publisher and waits for
// the ack, as js.PublishMsg does.
func awaitAsync(js jetstream.JetStream) Publish {
	return func(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
		f, err := js.PublishMsgAsync(m, opts...)
		if err != nil {
			return nil, err
		}
		select {
		case ack := <-f.Ok():
			return ack, nil
		case err := <-f.Err():
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err() // the future times out on its own
		}
	}
}

// Load reads a subject's messages in stream order (none: an empty slice).
func (l *Log) Load(ctx context.Context, subject string) ([]Msg, error) {
	var out []Msg
	for next := uint64(1); ; {
		m, err := l.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			if n := len(out); n > 0 && l.signer != nil {
				last := out[n-1]
				l.links.put(subject, last.Seq, seal.Hash(last.Header, last.Data))
			}
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: load %s at %d: %w", ErrUnavailable, subject, next, err)
		}
		out = append(out, Msg{Seq: m.Sequence, Data: m.Data, Time: m.Time, Header: m.Header})
		next = m.Sequence + 1
	}
}

// Append writes data to subject if the subject's last stream sequence is
// still expected (0: the subject is empty), and returns the new message's
// sequence. ErrConflict when another writer got there first (nothing
// written); ErrUnavailable when the outcome is unknown. A retry after a lost
// acknowledgement that meets the sequence check is resolved by the
// message's Msg-Id: written at most once.
func (l *Log) Append(ctx context.Context, subject string, expected uint64, data []byte) (uint64, error) {
	msgID := subject + "." + nuid.Next()
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	seq, err := l.appendMsg(ctx, msg, expected, msgID)
	if err == nil && l.signer != nil {
		l.links.put(subject, seq, seal.Hash(msg.Header, data))
	}
	return seq, err
}

// appendMsg is Append of msg, sealed first when the log signs.
func (l *Log) appendMsg(ctx context.Context, msg *nats.Msg, expected uint64, msgID string) (uint64, error) {
	subject := msg.Subject
	if l.signer != nil {
		if _, err := l.sealMsgs(ctx, subject, expected, []*nats.Msg{msg}); err != nil {
			return 0, err
		}
	}
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ack, err := l.publishAttempt(ctx, msg, jetstream.WithExpectLastSequencePerSubject(expected), jetstream.WithMsgID(msgID))
		switch {
		case err == nil:
			return ack.Sequence, nil
		case IsWrongLastSequence(err):
			if attempt == 1 {
				return 0, fmt.Errorf("%w: %s after seq %d", ErrConflict, subject, expected)
			}
			// An earlier attempt may have landed with its ack lost.
			return l.resolve(ctx, subject, expected, msgID)
		case !retryable(err):
			return 0, fmt.Errorf("%w: append %s: %w", ErrUnavailable, subject, err)
		}
		l.logger.Warn("streamlog: append attempt failed, retrying", "subject", subject, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: append %s: outcome unknown after %d attempts: %w", ErrUnavailable, subject, attempt, err)
		case <-time.After(jitter(backoff)):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// jitter spreads a backoff d over [d/2, 3d/2), so that writers that failed
// together (a leader election, a restart) do not retry in step.
func jitter(d time.Duration) time.Duration { return d/2 + rand.N(d) }

// resolve finds out whether the message with msgID is the subject's first
// message after expected.
func (l *Log) resolve(ctx context.Context, subject string, expected uint64, msgID string) (uint64, error) {
	m, err := l.stream.GetMsg(ctx, expected+1, jetstream.WithGetMsgSubject(subject))
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, fmt.Errorf("%w: resolving %s after seq %d: %w", ErrUnavailable, subject, expected, err)
	}
	if err == nil && m.Header.Get(jetstream.MsgIDHeader) == msgID {
		return m.Sequence, nil
	}
	return 0, fmt.Errorf("%w: %s after seq %d", ErrConflict, subject, expected)
}

// IsWrongLastSequence reports a failed expected-sequence check: JetStream
// error 10071, or 10164 on replicated streams.
func IsWrongLastSequence(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// retryable errors leave the outcome unknown or the stream momentarily
// unreachable; the same message may be sent again.
func retryable(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return false
	}
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrAsyncPublishTimeout) || errors.Is(err, jetstream.ErrTooManyStalledMsgs) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected)
}
