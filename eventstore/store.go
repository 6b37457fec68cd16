package eventstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/internal/streamlog"
	"github.com/hongbao/hongbao/topology"
)

// Sentinel errors; match with errors.Is.
var (
	// ErrConflict: another writer appended to the envelope since the
	// expected sequence. Reload and decide again.
	ErrConflict = streamlog.ErrConflict
	// ErrNotFound: the envelope has no events.
	ErrNotFound = errors.New("eventstore: not found")
	// ErrUnavailable: the store could not be reached or did not confirm;
	// the outcome of an append is unknown.
	ErrUnavailable = streamlog.ErrUnavailable
	// ErrBatchUnsupported: the stream does not allow atomic batches (as
	// one created before allow_atomic was set); nothing was written.
	ErrBatchUnsupported = streamlog.ErrBatchUnsupported
	// ErrCorrupt: an envelope's subject holds a message that is not an
	// event this store wrote (it does not decode, or does not verify).
	// Retrying will not help; the envelope is not served.
	ErrCorrupt = errors.New("eventstore: corrupt event stream")
)

// MaxBatch is the most events AppendBatch takes at once.
const MaxBatch = streamlog.MaxBatch

// MaxAttempts bounds a reload-and-decide loop on ErrConflict, the first
// attempt included (streamlog.MaxAttempts: the ledger keeps the same bound).
const MaxAttempts = streamlog.MaxAttempts

// Config names the stream and sets how writes are made.
type Config struct {
	// Topology names the stream and the envelopes' subjects; the zero
	// value is today's (ENVELOPES, envelope.<id>).
	Topology   topology.Topology
	Replicas   int           // default 1; 3 in a cluster
	Duplicates time.Duration // JetStream duplicate window; default 2 min
	// AttemptTimeout bounds one publish attempt; Append retries within its
	// context until then. Default 2 s.
	AttemptTimeout time.Duration
	// GroupCommit appends the appends of different envelopes that wait at
	// the same time as one atomic batch (one fsync with sync_interval:
	// always). It pays where every message is fsynced; with JetStream's
	// default sync interval single appends are faster.
	GroupCommit bool
	Logger      *slog.Logger
	// Signer seals every append (internal/seal: chain link, instance key,
	// signature); nil: appends are not sealed.
	Signer *seal.Signer
	// Policy verifies what Load reads: a message that does not verify
	// makes the envelope ErrCorrupt (the aggregate never folds a forged
	// event). nil: nothing is verified.
	Policy *seal.Policy
}

func (c *Config) defaults() {
	c.Topology = c.Topology.WithDefaults()
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

// stream is the one stream a store is on: a topology of one partition
// (topology.Partitions) keeps every envelope on partition 0's.
func (c *Config) stream() string { return c.Topology.EnvelopeStream(0) }

// Store appends and loads envelope events.
type Store struct {
	cfg    Config
	stream jetstream.Stream
	log    *streamlog.Log
	group  *streamlog.Group // nil without GroupCommit
}

// StreamConfig is the ENVELOPES stream as this package creates it.
func StreamConfig(c Config) jetstream.StreamConfig {
	c.defaults()
	return jetstream.StreamConfig{
		Name:              c.stream(),
		Description:       "hongbao envelope events, one subject per envelope",
		Subjects:          []string{c.Topology.EnvelopeFilter()},
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
		// Opens queued behind one another on a hot envelope are appended
		// as one atomic batch (AppendBatch).
		AllowAtomicPublish: true,
	}
}

// Open binds to the stream (creating it when missing) and returns a store
// on it. An existing stream's settings are left alone.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Store, error) {
	cfg.defaults()
	st, err := streamlog.EnsureStream(ctx, js, StreamConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("%w: stream %s: %w", ErrUnavailable, cfg.stream(), err)
	}
	s := &Store{cfg: cfg, stream: st, log: streamlog.NewLog(js, st, cfg.AttemptTimeout, cfg.Logger)}
	if cfg.Signer != nil {
		s.log.SetSigner(cfg.Signer)
	}
	if cfg.GroupCommit {
		s.group = streamlog.NewGroup(s.log, 3*cfg.AttemptTimeout)
	}
	return s, nil
}

// Subject is the subject of an envelope's events.
func (s *Store) Subject(id string) string { return s.cfg.Topology.EnvelopeSubject(id) }

// StreamName is the name of the stream.
func (s *Store) StreamName() string { return s.cfg.stream() }

// Topology is the store's topology, with its defaults.
func (s *Store) Topology() topology.Topology { return s.cfg.Topology }

// Stream is the underlying JetStream stream handle.
func (s *Store) Stream() jetstream.Stream { return s.stream }

// Load reads an envelope's events in stream order. ErrNotFound when it has
// none.
func (s *Store) Load(ctx context.Context, id string) ([]events.Record, error) {
	msgs, err := s.log.Load(ctx, s.Subject(id))
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, fmt.Errorf("%w: envelope %s", ErrNotFound, id)
	}
	if err := streamlog.Verify(s.cfg.Policy, s.cfg.stream(), s.Subject(id), msgs); err != nil {
		return nil, fmt.Errorf("%w: load %s: %w", ErrCorrupt, id, err)
	}
	out := make([]events.Record, 0, len(msgs))
	for _, m := range msgs {
		ev, err := events.Decode(m.Data)
		if err != nil {
			return nil, fmt.Errorf("%w: load %s: seq %d: %w", ErrCorrupt, id, m.Seq, err)
		}
		out = append(out, events.Record{Seq: m.Seq, Event: ev})
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
	if s.group != nil {
		return s.group.Append(ctx, s.Subject(ev.EnvelopeID), expected, data)
	}
	return s.log.Append(ctx, s.Subject(ev.EnvelopeID), expected, data)
}

// GroupCommits reports how many atomic batches the group committer wrote
// and how many appends they held (0, 0 without GroupCommit).
func (s *Store) GroupCommits() (batches, appends int64) {
	if s.group == nil {
		return 0, 0
	}
	return s.group.Stats()
}

// AppendBatch writes evs, all of one envelope and in order, as one atomic
// batch if the envelope's last stream sequence is still expected, and
// returns the last event's sequence (the others precede it one by one).
// Errors are Append's, plus ErrBatchUnsupported (nothing written) on a
// stream created without allow_atomic.
func (s *Store) AppendBatch(ctx context.Context, expected uint64, evs []events.Event) (uint64, error) {
	if len(evs) == 0 {
		return 0, fmt.Errorf("eventstore: empty batch")
	}
	datas := make([][]byte, len(evs))
	for i, ev := range evs {
		if ev.EnvelopeID != evs[0].EnvelopeID {
			return 0, fmt.Errorf("eventstore: batch of envelopes %s and %s", evs[0].EnvelopeID, ev.EnvelopeID)
		}
		data, err := events.Encode(ev)
		if err != nil {
			return 0, err
		}
		datas[i] = data
	}
	return s.log.AppendBatch(ctx, s.Subject(evs[0].EnvelopeID), expected, datas)
}

// LastSeq is the stream's last sequence (for lag and read-your-writes).
func (s *Store) LastSeq(ctx context.Context) (uint64, error) {
	info, err := s.stream.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("%w: stream info: %w", ErrUnavailable, err)
	}
	return info.State.LastSeq, nil
}
