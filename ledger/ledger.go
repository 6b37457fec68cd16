package ledger

import (
	"bytes"
	"container/list"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/internal/streamlog"
	"github.com/hongbao/hongbao/topology"
)

// Sentinel errors; match with errors.Is.
var (
	ErrInvalid      = errors.New("ledger: invalid transfer")
	ErrInsufficient = errors.New("ledger: escrow would go below zero")
	ErrMismatch     = errors.New("ledger: transfer id already used with different fields")
	ErrUnavailable  = streamlog.ErrUnavailable
	ErrCorrupt      = errors.New("ledger: corrupt escrow history")
)

// Accounts.
const AccountExternal = "external"

// EscrowAccount is the escrow account of an envelope.
func EscrowAccount(envelopeID string) string { return "escrow:" + envelopeID }

// WalletAccount is a user's wallet.
func WalletAccount(user string) string { return "wallet:" + user }

// Transfer kinds.
const (
	KindFund   = "fund"
	KindOpen   = "open"
	KindRefund = "refund"
)

// Transfer is one money movement.
type Transfer struct {
	ID         string    `json:"id"`
	Kind       string    `json:"kind"`
	EnvelopeID string    `json:"envelope_id"`
	Debit      string    `json:"debit"`
	Credit     string    `json:"credit"`
	Amount     int64     `json:"amount"`
	At         time.Time `json:"at"` // when the event behind it happened
}

// Entry is a transfer as stored: with the escrow balance after it.
type Entry struct {
	V             int `json:"v"`
	Transfer      `json:"transfer"`
	EscrowBalance int64 `json:"escrow_balance"`
}

// Same reports whether two transfers carry the same fields.
func (t Transfer) Same(o Transfer) bool {
	return t.ID == o.ID && t.Kind == o.Kind && t.EnvelopeID == o.EnvelopeID && t.Debit == o.Debit &&
		t.Credit == o.Credit && t.Amount == o.Amount && t.At.Equal(o.At)
}

// Validate checks the shape of a transfer: positive amount, two different
// accounts, exactly one of them the envelope's escrow.
func (t Transfer) Validate() error {
	escrow := EscrowAccount(t.EnvelopeID)
	switch {
	case t.ID == "" || t.EnvelopeID == "":
		return fmt.Errorf("%w: id and envelope are required", ErrInvalid)
	case t.Amount < 1:
		return fmt.Errorf("%w: %s: amount %d", ErrInvalid, t.ID, t.Amount)
	case t.Debit == t.Credit || t.Debit == "" || t.Credit == "":
		return fmt.Errorf("%w: %s: %s → %s", ErrInvalid, t.ID, t.Debit, t.Credit)
	case (t.Debit == escrow) == (t.Credit == escrow):
		return fmt.Errorf("%w: %s: exactly one side must be %s", ErrInvalid, t.ID, escrow)
	case strings.HasPrefix(t.Debit, "escrow:") && t.Debit != escrow, strings.HasPrefix(t.Credit, "escrow:") && t.Credit != escrow:
		return fmt.Errorf("%w: %s touches another envelope's escrow", ErrInvalid, t.ID)
	}
	switch t.Kind {
	case KindFund:
		if t.Debit != AccountExternal || t.Credit != escrow {
			return fmt.Errorf("%w: %s: a fund moves external → escrow", ErrInvalid, t.ID)
		}
	case KindOpen, KindRefund:
		if t.Debit != escrow || !strings.HasPrefix(t.Credit, "wallet:") || len(t.Credit) == len("wallet:") {
			return fmt.Errorf("%w: %s: an %s moves escrow → a wallet", ErrInvalid, t.ID, t.Kind)
		}
	default:
		return fmt.Errorf("%w: %s: kind %q", ErrInvalid, t.ID, t.Kind)
	}
	return nil
}

// delta is what the transfer does to its escrow.
func (t Transfer) delta() int64 {
	if t.Credit == EscrowAccount(t.EnvelopeID) {
		return t.Amount
	}
	return -t.Amount
}

// Result of a transfer.
type Result struct {
	Seq           uint64 // stream sequence of the entry
	Duplicate     bool   // the id was already there: this is the original entry
	EscrowBalance int64  // the escrow's balance after the entry
}

// Config of the ledger.
type Config struct {
	// Topology names the stream and the escrows' subjects; the zero value
	// is today's (LEDGER, ledger.escrow.<envelope>).
	Topology   topology.Topology
	Replicas   int           // default 1
	Duplicates time.Duration // JetStream duplicate window; default 2 min (idempotency does not depend on it)
	// AllowDeletes lets operators (and fault-injection tests) delete
	// entries; off by default: the ledger is append-only.
	AllowDeletes bool
	CacheSize    int // escrows kept in memory; default 10,000
	Logger       *slog.Logger
	// Signer seals every entry appended (internal/seal); nil: not sealed.
	Signer *seal.Signer
	// Policy verifies an escrow's entries when they are loaded: one that
	// does not verify makes the escrow ErrCorrupt (never credited from).
	// nil: nothing is verified.
	Policy *seal.Policy
}

// Ledger appends transfers.
type Ledger struct {
	cfg    Config
	stream jetstream.Stream
	log    *streamlog.Log

	mu    sync.Mutex
	cache map[string]*list.Element // envelope id → *escrow
	lru   *list.List
}

type escrow struct {
	id      string
	mu      sync.Mutex // held across load, decide and append
	loaded  bool
	lastSeq uint64
	balance int64
	byID    map[string]Result
	entries map[string]Transfer
}

// Subject is the subject of an envelope's escrow.
func (l *Ledger) Subject(envelopeID string) string { return l.cfg.Topology.EscrowSubject(envelopeID) }

// StreamConfig is the LEDGER stream as Open creates it.
func StreamConfig(c Config) jetstream.StreamConfig {
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Duplicates == 0 {
		c.Duplicates = 2 * time.Minute
	}
	return jetstream.StreamConfig{
		Name:              c.Topology.LedgerStream(0), // one partition (topology.Partitions)
		Description:       "hongbao double-entry ledger, one subject per envelope escrow",
		Subjects:          []string{c.Topology.LedgerFilter()},
		Storage:           jetstream.FileStorage,
		MaxMsgsPerSubject: -1,
		MaxMsgSize:        16 << 10,
		Discard:           jetstream.DiscardNew,
		Duplicates:        c.Duplicates,
		Replicas:          c.Replicas,
		AllowDirect:       true,
		DenyDelete:        !c.AllowDeletes,
		DenyPurge:         !c.AllowDeletes,
	}
}

// Open binds to the LEDGER stream, creating it from cfg when missing; an
// existing stream's settings (replicas, delete policy) are left alone.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Ledger, error) {
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 10_000
	}
	cfg.Topology = cfg.Topology.WithDefaults()
	sc := StreamConfig(cfg)
	st, err := streamlog.EnsureStream(ctx, js, sc)
	if err != nil {
		return nil, fmt.Errorf("%w: stream %s: %w", ErrUnavailable, sc.Name, err)
	}
	l := &Ledger{cfg: cfg, stream: st, log: streamlog.NewLog(js, st, 0, cfg.Logger),
		cache: map[string]*list.Element{}, lru: list.New()}
	if cfg.Signer != nil {
		l.log.SetSigner(cfg.Signer)
	}
	return l, nil
}

// Stream is the LEDGER stream.
func (l *Ledger) Stream() jetstream.Stream { return l.stream }

func (l *Ledger) escrow(id string) *escrow {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.cache[id]; ok {
		l.lru.MoveToFront(el)
		return el.Value.(*escrow)
	}
	e := &escrow{id: id}
	l.cache[id] = l.lru.PushFront(e)
	for l.lru.Len() > l.cfg.CacheSize {
		old := l.lru.Back()
		l.lru.Remove(old)
		delete(l.cache, old.Value.(*escrow).id)
	}
	return e
}

// load folds the escrow's subject. Called with e.mu held.
func (l *Ledger) load(ctx context.Context, e *escrow) error {
	msgs, err := l.log.Load(ctx, l.Subject(e.id))
	if err != nil {
		return err
	}
	if err := streamlog.Verify(l.cfg.Policy, l.cfg.Topology.LedgerStream(0), l.Subject(e.id), msgs); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorrupt, e.id, err)
	}
	e.loaded, e.lastSeq, e.balance = false, 0, 0
	e.byID, e.entries = map[string]Result{}, map[string]Transfer{}
	for _, m := range msgs {
		ent, err := DecodeEntry(m.Data)
		if err != nil {
			return fmt.Errorf("%w: %s seq %d: %v", ErrCorrupt, e.id, m.Seq, err)
		}
		e.balance += ent.delta()
		e.lastSeq = m.Seq
		if _, dup := e.byID[ent.ID]; !dup {
			e.byID[ent.ID] = Result{Seq: m.Seq, Duplicate: true, EscrowBalance: e.balance}
			e.entries[ent.ID] = ent.Transfer
		}
	}
	e.loaded = true
	return nil
}

// DecodeEntry decodes a stored entry strictly: one JSON object, no unknown
// fields, version 1, a valid transfer. On any error it returns no entry.
func DecodeEntry(b []byte) (Entry, error) {
	var ent Entry
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ent); err != nil {
		return Entry{}, err
	}
	if dec.More() {
		return Entry{}, errors.New("trailing data after the entry")
	}
	if ent.V != 1 {
		return Entry{}, fmt.Errorf("entry version %d", ent.V)
	}
	if err := ent.Validate(); err != nil {
		return Entry{}, err
	}
	return ent, nil
}

// Transfer records t once. See the package invariants for its contract.
func (l *Ledger) Transfer(ctx context.Context, t Transfer) (Result, error) {
	if err := t.Validate(); err != nil {
		return Result{}, err
	}
	t.At = t.At.UTC()
	e := l.escrow(t.EnvelopeID)
	e.mu.Lock()
	defer e.mu.Unlock()
	for attempt := 1; ; attempt++ {
		if !e.loaded {
			if err := l.load(ctx, e); err != nil {
				return Result{}, err
			}
		}
		if prev, ok := e.entries[t.ID]; ok {
			if !prev.Same(t) {
				return Result{}, fmt.Errorf("%w: %s", ErrMismatch, t.ID)
			}
			return e.byID[t.ID], nil
		}
		balance := e.balance + t.delta()
		if balance < 0 {
			return Result{}, fmt.Errorf("%w: %s: escrow %d, transfer %d", ErrInsufficient, t.ID, e.balance, t.Amount)
		}
		data, err := json.Marshal(Entry{V: 1, Transfer: t, EscrowBalance: balance})
		if err != nil {
			return Result{}, err
		}
		seq, err := l.log.Append(ctx, l.Subject(t.EnvelopeID), e.lastSeq, data)
		switch {
		case err == nil:
			e.balance, e.lastSeq = balance, seq
			e.byID[t.ID] = Result{Seq: seq, Duplicate: true, EscrowBalance: balance}
			e.entries[t.ID] = t
			return Result{Seq: seq, EscrowBalance: balance}, nil
		case errors.Is(err, streamlog.ErrConflict) && attempt < streamlog.MaxAttempts:
			e.loaded = false // another writer: reload and decide again
		default:
			e.loaded = false // the outcome may be unknown: reload next time
			return Result{}, err
		}
	}
}

// Escrow returns an envelope's escrow balance and its transfers as stored.
func (l *Ledger) Escrow(ctx context.Context, envelopeID string) (balance int64, entries []Entry, seqs []uint64, err error) {
	msgs, err := l.log.Load(ctx, l.Subject(envelopeID))
	if err != nil {
		return 0, nil, nil, err
	}
	if err := streamlog.Verify(l.cfg.Policy, l.cfg.Topology.LedgerStream(0), l.Subject(envelopeID), msgs); err != nil {
		return 0, nil, nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, envelopeID, err)
	}
	for _, m := range msgs {
		ent, err := DecodeEntry(m.Data)
		if err != nil {
			return 0, nil, nil, fmt.Errorf("%w: %s seq %d: %v", ErrCorrupt, envelopeID, m.Seq, err)
		}
		balance += ent.delta()
		entries = append(entries, ent)
		seqs = append(seqs, m.Seq)
	}
	return balance, entries, seqs, nil
}
