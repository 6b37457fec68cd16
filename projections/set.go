package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/projections/outbox"
	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/projections/users"
	"github.com/hongbao/hongbao/projections/wallets"
	"github.com/hongbao/hongbao/topology"
)

// Sentinel errors; match with errors.Is.
var (
	ErrUnknown = errors.New("projections: unknown projection")
	ErrBusy    = errors.New("projections: a rebuild or verify of that projection is already running")
)

// LagError: a query asked for a view that reflects a stream sequence, and
// the view had not applied it within Config.WaitTimeout. It wraps the
// projector's error (projector.ErrLagging).
type LagError struct {
	View string // detail, users, …
	Seq  uint64 // the sequence asked for
	Err  error
}

func (e *LagError) Error() string {
	return fmt.Sprintf("projections: the %s view has not reached seq %d: %v", e.View, e.Seq, e.Err)
}

func (e *LagError) Unwrap() error { return e.Err }

// Names of the projections, in the order they are listed.
var Names = []string{"detail", "users", "outbox", "wallets"}

// spec is what a projection is made of.
type spec struct {
	proj           projector.RawProjection
	stream, filter string
}

func (s *Set) spec(name string) (spec, error) {
	switch name {
	case "detail", "users", "outbox":
		var p projector.Projection = detail.Projection{}
		if name == "users" {
			p = users.Projection{}
		} else if name == "outbox" {
			p = outbox.Projection{}
		}
		return spec{projector.Events(p), s.cfg.Topology.EnvelopeStream(0), s.cfg.Topology.EnvelopeFilter()}, nil
	case "wallets":
		return spec{wallets.Projection{}, s.cfg.Topology.LedgerStream(0), s.cfg.Topology.LedgerFilter()}, nil
	}
	return spec{}, fmt.Errorf("%w: %q (want one of %s)", ErrUnknown, name, strings.Join(Names, ", "))
}

// newProjector makes the named projection's projector over db (bulk: db
// was opened by projector.OpenBulk).
func (s *Set) newProjector(name string, db *pebble.DB, bulk bool) (*projector.Projector, error) {
	sp, err := s.spec(name)
	if err != nil {
		return nil, err
	}
	cfg := projector.Config{Stream: sp.stream, Filter: sp.filter,
		BatchSize: s.cfg.BatchSize, Logger: s.cfg.Logger, Bulk: bulk}
	if s.cfg.Policy != nil {
		cfg.Verify = s.cfg.Policy.Verify
	}
	return projector.NewRaw(db, sp.proj, s.js, cfg)
}

// Config of a set of projections.
type Config struct {
	Dir string // base directory, e.g. ./data/projections
	FS  vfs.FS // nil: the OS file system
	// Topology names the streams the projections consume (one partition
	// today); the zero value is today's.
	Topology    topology.Topology
	BatchSize   int           // events per Pebble batch; default 1000
	WaitTimeout time.Duration // how long a query waits for after_seq; default 2 s
	Logger      *slog.Logger
	// Policy verifies every message before it is applied: one that does
	// not verify is parked as forged, never applied (internal/seal).
	// nil: nothing is verified.
	Policy *seal.Policy
}

// Set is the running projections of one service instance.
type Set struct {
	cfg Config
	js  jetstream.JetStream
	fs  vfs.FS

	mu    sync.RWMutex // queries hold it for reading; a swap for writing
	live  map[string]*live
	jobs  map[string]bool // projections with a rebuild or verify running
	runCh chan struct{}   // closed by Close
	wg    sync.WaitGroup
}

type live struct {
	gen    int
	db     *pebble.DB
	proj   *projector.Projector
	cancel context.CancelFunc
	done   chan error
}

// Open opens (creating) every projection's live generation. Call Start to
// run the projectors.
func Open(js jetstream.JetStream, cfg Config) (*Set, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Topology = cfg.Topology.WithDefaults()
	if cfg.WaitTimeout == 0 {
		cfg.WaitTimeout = 2 * time.Second
	}
	fs := cfg.FS
	if fs == nil {
		fs = vfs.Default
	}
	s := &Set{cfg: cfg, js: js, fs: fs, live: map[string]*live{}, jobs: map[string]bool{}, runCh: make(chan struct{})}
	for _, name := range Names {
		gen, err := s.currentGen(name)
		if err != nil {
			s.closeAll()
			return nil, err
		}
		if err := s.removeStale(name, gen); err != nil {
			s.closeAll()
			return nil, err
		}
		l, err := s.openGen(name, gen)
		if errors.Is(err, projector.ErrFormat) {
			// Written by a build with other rows: start the next
			// generation from the stream, as a rebuild would, and let
			// the projector fill it while the service runs.
			cfg.Logger.Warn("projection in an old format: rebuilding it from the stream", "projection", name, "err", err)
			l, err = s.replaceGen(name, gen)
		}
		if err != nil {
			s.closeAll()
			return nil, err
		}
		s.live[name] = l
	}
	return s, nil
}

// replaceGen makes an empty generation after gen the live one and deletes
// gen.
func (s *Set) replaceGen(name string, gen int) (*live, error) {
	if err := s.fs.RemoveAll(s.genDir(name, gen+1)); err != nil {
		return nil, fmt.Errorf("projections: %w", err)
	}
	l, err := s.openGen(name, gen+1)
	if err != nil {
		return nil, err
	}
	if err := s.writeCurrent(name, gen+1); err != nil {
		l.db.Close()
		return nil, err
	}
	if err := s.removeStale(name, gen+1); err != nil {
		l.db.Close()
		return nil, err
	}
	return l, nil
}

func (s *Set) genDir(name string, gen int) string {
	return filepath.Join(s.cfg.Dir, name, fmt.Sprintf("gen-%06d", gen))
}

// currentGen reads <dir>/<name>/CURRENT; 1 when there is none yet.
func (s *Set) currentGen(name string) (int, error) {
	f, err := s.fs.Open(filepath.Join(s.cfg.Dir, name, "CURRENT"))
	if errors.Is(err, os.ErrNotExist) {
		if err := s.fs.MkdirAll(filepath.Join(s.cfg.Dir, name), 0o755); err != nil {
			return 0, fmt.Errorf("projections: %w", err)
		}
		return 1, s.writeCurrent(name, 1)
	}
	if err != nil {
		return 0, fmt.Errorf("projections: %w", err)
	}
	defer f.Close()
	buf := make([]byte, 64)
	n, _ := f.Read(buf)
	gen, err := strconv.Atoi(strings.TrimPrefix(strings.TrimSpace(string(buf[:n])), "gen-"))
	if err != nil || gen < 1 {
		return 0, fmt.Errorf("projections: %s/CURRENT says %q", name, buf[:n])
	}
	return gen, nil
}

// writeCurrent points CURRENT at gen atomically and durably.
func (s *Set) writeCurrent(name string, gen int) error {
	dir := filepath.Join(s.cfg.Dir, name)
	tmp := filepath.Join(dir, "CURRENT.tmp")
	f, err := s.fs.Create(tmp, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	if _, err := fmt.Fprintf(f, "gen-%06d\n", gen); err != nil {
		f.Close()
		return fmt.Errorf("projections: %w", err)
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	if err := s.fs.Rename(tmp, filepath.Join(dir, "CURRENT")); err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	d, err := s.fs.OpenDir(dir)
	if err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	return errors.Join(d.Sync(), d.Close())
}

// removeStale deletes generations other than the live one (half-built
// rebuilds, replaced generations).
func (s *Set) removeStale(name string, gen int) error {
	entries, err := s.fs.List(filepath.Join(s.cfg.Dir, name))
	if err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e, "gen-") && e != fmt.Sprintf("gen-%06d", gen) {
			if err := s.fs.RemoveAll(filepath.Join(s.cfg.Dir, name, e)); err != nil {
				return fmt.Errorf("projections: %w", err)
			}
		}
	}
	return nil
}

func (s *Set) openGen(name string, gen int) (*live, error) {
	if _, err := s.spec(name); err != nil {
		return nil, err
	}
	db, err := projector.Open(s.genDir(name, gen), s.cfg.FS, s.cfg.Logger)
	if err != nil {
		return nil, err
	}
	p, err := s.newProjector(name, db, false)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &live{gen: gen, db: db, proj: p}, nil
}

// Start runs every projector in the background until Close.
func (s *Set) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.live {
		s.startLocked(l)
	}
}

func (s *Set) startLocked(l *live) {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel, l.done = cancel, make(chan error, 1)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		l.done <- l.proj.Run(ctx)
	}()
}

// Close stops the projectors and closes the databases.
func (s *Set) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeAll()
}

func (s *Set) closeAll() error {
	var errs []error
	for name, l := range s.live {
		if l.cancel != nil {
			l.cancel()
			if err := <-l.done; err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
		errs = append(errs, l.db.Close())
		delete(s.live, name)
	}
	return errors.Join(errs...)
}

// Lag of one projection.
type Lag struct {
	Name       string `json:"name"`
	Generation int    `json:"generation"`
	Applied    uint64 `json:"applied"`
	StreamLast uint64 `json:"stream_last"`
	Lag        uint64 `json:"lag"`
	// Parked is how many events the projection parked (did not apply:
	// malformed, forged or refused by its fold); projector.Parked lists
	// them.
	Parked int64 `json:"parked"`
}

// Status reports each projection's applied sequence against the stream's
// last sequence.
func (s *Set) Status(ctx context.Context) ([]Lag, error) {
	lasts := map[string]uint64{}
	for _, name := range Names {
		last, err := s.streamLast(ctx, name)
		if err != nil {
			return nil, err
		}
		lasts[name] = last
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Lag
	for _, name := range Names {
		l, last := s.live[name], lasts[name]
		a := l.proj.Applied()
		out = append(out, Lag{Name: name, Generation: l.gen, Applied: a, StreamLast: last, Lag: last - min(a, last),
			Parked: l.proj.ParkedCount()})
	}
	return out, nil
}

// Applied returns each projection's applied stream sequence, without asking
// the server anything (for cheap stats).
func (s *Set) Applied() map[string]uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[string]uint64, len(s.live))
	for name, l := range s.live {
		out[name] = l.proj.Applied()
	}
	return out
}

// streamLast is the last sequence of the stream a projection reads.
func (s *Set) streamLast(ctx context.Context, projection string) (uint64, error) {
	sp, err := s.spec(projection)
	if err != nil {
		return 0, err
	}
	name := sp.stream
	st, err := s.js.Stream(ctx, name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return 0, nil // nothing written yet
	}
	if err != nil {
		return 0, fmt.Errorf("projections: stream %s: %w", name, err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("projections: stream %s: %w", name, err)
	}
	return info.State.LastSeq, nil
}

// read runs f on a projection's live database once it has applied afterSeq.
func (s *Set) read(ctx context.Context, name string, afterSeq uint64, f func(pebble.Reader) error) error {
	if afterSeq > 0 {
		s.mu.RLock()
		p := s.live[name].proj
		s.mu.RUnlock()
		wctx, cancel := context.WithTimeout(ctx, s.cfg.WaitTimeout)
		defer cancel()
		if err := p.WaitFor(wctx, afterSeq); err != nil {
			return &LagError{View: name, Seq: afterSeq, Err: err}
		}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return f(s.live[name].db)
}

// Parked lists the events a projection parked (did not apply), in stream
// order.
func (s *Set) Parked(ctx context.Context, name string) ([]projector.ParkedEvent, error) {
	if _, err := s.spec(name); err != nil {
		return nil, err
	}
	var out []projector.ParkedEvent
	err := s.read(ctx, name, 0, func(r pebble.Reader) error {
		var err error
		out, err = projector.Parked(r)
		return err
	})
	return out, err
}

// Detail returns envelope id with at most limit of its opens from the
// index from on (detail.ParseCursor), as of at least afterSeq (0: as it
// is), or detail.ErrNotFound.
func (s *Set) Detail(ctx context.Context, id string, from, limit int, afterSeq uint64) (detail.Page, error) {
	var p detail.Page
	err := s.read(ctx, "detail", afterSeq, func(r pebble.Reader) error {
		var err error
		p, err = detail.Get(r, id, from, limit)
		return err
	})
	return p, err
}

// ListQuery asks for a page of a user's received or sent list.
type ListQuery struct {
	User     string
	Year     int // 0: the current year (users.Year)
	Cursor   string
	Limit    int
	AfterSeq uint64 // reflect at least this stream sequence
}

func (q ListQuery) year() int {
	if q.Year != 0 {
		return q.Year
	}
	return users.Year(time.Now())
}

// Received returns a page of what a user received.
func (s *Set) Received(ctx context.Context, q ListQuery) (users.ReceivedPage, error) {
	var p users.ReceivedPage
	err := s.read(ctx, "users", q.AfterSeq, func(r pebble.Reader) error {
		var err error
		p, err = users.ReceivedList(r, q.User, q.year(), q.Cursor, q.Limit)
		return err
	})
	return p, err
}

// Sent returns a page of what a user sent.
func (s *Set) Sent(ctx context.Context, q ListQuery) (users.SentPage, error) {
	var p users.SentPage
	err := s.read(ctx, "users", q.AfterSeq, func(r pebble.Reader) error {
		var err error
		p, err = users.SentList(r, q.User, q.year(), q.Cursor, q.Limit)
		return err
	})
	return p, err
}

// Wallet returns a user's balance and a page of the wallet's entries.
func (s *Set) Wallet(ctx context.Context, user, cursor string, limit int) (wallets.Page, error) {
	var p wallets.Page
	err := s.read(ctx, "wallets", 0, func(r pebble.Reader) error {
		var err error
		p, err = wallets.Wallet(r, user, cursor, limit)
		return err
	})
	return p, err
}

// Balances visits every account's balance as the wallets view has it.
func (s *Set) Balances(ctx context.Context, visit func(account string, balance int64)) (applied uint64, err error) {
	err = s.read(ctx, "wallets", 0, func(r pebble.Reader) error {
		if applied, err = projector.Checkpoint(r); err != nil {
			return err
		}
		return wallets.Balances(r, visit)
	})
	return applied, err
}

// WaitFor waits until the named projection has applied seq.
func (s *Set) WaitFor(ctx context.Context, name string, seq uint64) error {
	s.mu.RLock()
	l, ok := s.live[name]
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknown, name)
	}
	return l.proj.WaitFor(ctx, seq)
}

// Outbox lists transfers after a stream sequence.
func (s *Set) Outbox(ctx context.Context, after uint64, limit int) ([]outbox.Transfer, error) {
	var out []outbox.Transfer
	err := s.read(ctx, "outbox", 0, func(r pebble.Reader) error {
		var err error
		out, err = outbox.List(r, after, limit)
		return err
	})
	return out, err
}
