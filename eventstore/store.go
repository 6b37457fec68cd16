package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/hongbao/hongbao/events"
)

// Sentinel errors; match with errors.Is.
var (
	// ErrConflict: another writer appended to the envelope since the
	// expected sequence. Reload and decide again.
	ErrConflict = errors.New("eventstore: conflict")
	// ErrNotFound: the envelope has no events.
	ErrNotFound = errors.New("eventstore: not found")
	// ErrUnavailable: the store could not be reached or did not confirm;
	// the outcome of an append is unknown.
	ErrUnavailable = errors.New("eventstore: unavailable")
)

// Config names the stream and sets how writes are made.
type Config struct {
	Stream        string        // default "ENVELOPES"
	SubjectPrefix string        // default "envelope": events go to <prefix>.<id>
	Replicas      int           // default 1; 3 in a cluster
	Duplicates    time.Duration // JetStream duplicate window; default 2 min
	// AttemptTimeout bounds one publish attempt; Append retries within its
	// context until then. Default 2 s.
	AttemptTimeout time.Duration
	Logger         *slog.Logger
}

func (c *Config) defaults() {
	if c.Stream == "" {
		c.Stream = "ENVELOPES"
	}
	if c.SubjectPrefix == "" {
		c.SubjectPrefix = "envelope"
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 {
		c.Duplicates = 2 * time.Minute
	}
	if c.AttemptTimeout == 0 {
		c.AttemptTimeout = 2 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store appends and loads envelope events.
type Store struct {
	cfg    Config
	js     jetstream.JetStream
	stream jetstream.Stream
	// publish is js.PublishMsg; tests wrap it to lose acknowledgements.
	publish func(context.Context, *nats.Msg, ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// StreamConfig is the ENVELOPES stream as this package creates it.
func StreamConfig(c Config) jetstream.StreamConfig {
	c.defaults()
	return jetstream.StreamConfig{
		Name:              c.Stream,
		Description:       "hongbao envelope events, one subject per envelope",
		Subjects:          []string{c.SubjectPrefix + ".>"},
		Storage:           jetstream.FileStorage,
		Retention:         jetstream.LimitsPolicy,
		MaxMsgsPerSubject: -1,
		MaxMsgSize:        64 << 10,
		Discard:           jetstream.DiscardNew,
		Duplicates:        c.Duplicates,
		Replicas:          c.Replicas,
		AllowDirect:       true,
		DenyDelete:        true,
		DenyPurge:         true,
	}
}

// Open creates or updates the stream and returns a store on it.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	cfg.defaults()
	st, err := js.CreateOrUpdateStream(ctx, StreamConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("%w: stream %s: %w", ErrUnavailable, cfg.Stream, err)
	}
	return &Store{cfg: cfg, js: js, stream: st, publish: js.PublishMsg}, nil
}

// Subject is the subject of an envelope's events.
func (s *Store) Subject(id string) string { return s.cfg.SubjectPrefix + "." + id }

// StreamName is the name of the stream.
func (s *Store) StreamName() string { return s.cfg.Stream }

// Stream is the underlying JetStream stream handle.
func (s *Store) Stream() jetstream.Stream { return s.stream }

// Load reads an envelope's events in stream order. ErrNotFound when it has
// none.
func (s *Store) Load(ctx context.Context, id string) ([]events.Record, error) {
	subj := s.Subject(id)
	var out []events.Record
	for next := uint64(1); ; {
		m, err := s.stream.GetMsg(ctx, next, jetstream.WithGetMsgSubject(subj))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: load %s at %d: %w", ErrUnavailable, id, next, err)
		}
		ev, err := events.Decode(m.Data)
		if err != nil {
			return nil, fmt.Errorf("load %s: seq %d: %w", id, m.Sequence, err)
		}
		out = append(out, events.Record{Seq: m.Sequence, Event: ev})
		next = m.Sequence + 1
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: envelope %s", ErrNotFound, id)
	}
	return out, nil
}

// Append writes ev to its envelope's subject if the envelope's last stream
// sequence is still expected (0 for a new envelope), and returns the new
// event's sequence. See the package invariants for its error contract.
func (s *Store) Append(ctx context.Context, expected uint64, ev events.Event) (uint64, error) {
	data, err := events.Encode(ev)
	if err != nil {
		return 0, err
	}
	subj := s.Subject(ev.EnvelopeID)
	msgID := ev.EnvelopeID + "." + nuid.Next()
	msg := &nats.Msg{Subject: subj, Data: data, Header: nats.Header{}}
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, s.cfg.AttemptTimeout)
		ack, err := s.publish(actx, msg, jetstream.WithExpectLastSequencePerSubject(expected), jetstream.WithMsgID(msgID))
		cancel()
		switch {
		case err == nil:
			return ack.Sequence, nil
		case IsWrongLastSequence(err):
			if attempt == 1 {
				return 0, fmt.Errorf("%w: %s after seq %d", ErrConflict, ev.EnvelopeID, expected)
			}
			// An earlier attempt may have landed with its ack lost.
			return s.resolve(ctx, subj, expected, msgID)
		case !retryable(err):
			return 0, fmt.Errorf("%w: append %s: %w", ErrUnavailable, ev.EnvelopeID, err)
		}
		s.cfg.Logger.Warn("eventstore: append attempt failed, retrying", "envelope", ev.EnvelopeID, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: append %s: outcome unknown after %d attempts: %w", ErrUnavailable, ev.EnvelopeID, attempt, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// resolve finds out whether the message with msgID is the envelope's first
// message after expected.
func (s *Store) resolve(ctx context.Context, subj string, expected uint64, msgID string) (uint64, error) {
	m, err := s.stream.GetMsg(ctx, expected+1, jetstream.WithGetMsgSubject(subj))
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, fmt.Errorf("%w: resolving %s after seq %d: %w", ErrUnavailable, subj, expected, err)
	}
	if err == nil && m.Header.Get(jetstream.MsgIDHeader) == msgID {
		return m.Sequence, nil
	}
	return 0, fmt.Errorf("%w: %s after seq %d", ErrConflict, subj, expected)
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
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, nats.ErrConnectionReconnecting) || errors.Is(err, nats.ErrDisconnected)
}

// LastSeq is the stream's last sequence (for lag and read-your-writes).
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: stream info: %w", ErrUnavailable, err)
	}
	return info.State.LastSeq, nil
}
