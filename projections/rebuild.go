package projections

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/projections/projector"
)

// Progress of a rebuild or verify, reported while it runs.
type Progress struct {
	Projection string        `json:"projection"`
	Phase      string        `json:"phase"` // "rebuild", "catch-up", "compare", "done"
	Position   uint64        `json:"position"`
	Total      uint64        `json:"total"`
	Rate       float64       `json:"events_per_second"`
	ETA        time.Duration `json:"eta_ns"`
	Elapsed    time.Duration `json:"elapsed_ns"`
}

// Difference is one row where a fresh rebuild and the live projection
// disagree. A missing side is empty.
type Difference struct {
	Key     string `json:"key"`
	Live    string `json:"live,omitempty"`
	Rebuilt string `json:"rebuilt,omitempty"`
}

// MaxDifferences bounds the differences Verify lists (it counts all).
const MaxDifferences = 1000

// VerifyResult is what Verify found.
type VerifyResult struct {
	Projection  string       `json:"projection"`
	Checkpoint  uint64       `json:"checkpoint"`
	Rows        int          `json:"rows"`
	Count       int          `json:"differences"`
	Differences []Difference `json:"listed,omitempty"`
}

func (s *Set) claim(name string) error {
	if _, err := s.spec(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.jobs[name] {
		return fmt.Errorf("%w: %s", ErrBusy, name)
	}
	s.jobs[name] = true
	return nil
}

func (s *Set) release(name string) {
	s.mu.Lock()
	delete(s.jobs, name)
	s.mu.Unlock()
}

// catchUp runs p to target, reporting progress every interval.
func catchUp(ctx context.Context, p *projector.Projector, name, phase string, target uint64, progress func(Progress)) error {
	start, from := time.Now(), p.Applied()
	report := func() {
		if progress == nil {
			return
		}
		pos := p.Applied()
		el := time.Since(start)
		pr := Progress{Projection: name, Phase: phase, Position: pos, Total: target, Elapsed: el}
		if done := pos - min(from, pos); el > 0 && done > 0 {
			pr.Rate = float64(done) / el.Seconds()
			pr.ETA = time.Duration(float64(target-min(pos, target)) / pr.Rate * float64(time.Second))
		}
		progress(pr)
	}
	done := make(chan error, 1)
	go func() { done <- p.CatchUp(ctx, target) }()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			report()
			return err
		case <-tick.C:
			report()
		}
	}
}

// Rebuild replays the whole stream into a new generation of the named
// projection, catches it up with the live one, and swaps it in. Queries are
// answered by the live generation until the swap, which waits only for the
// queries in flight.
func (s *Set) Rebuild(ctx context.Context, name string, progress func(Progress)) error {
	if err := s.claim(name); err != nil {
		return err
	}
	defer s.release(name)
	s.mu.RLock()
	cur := s.live[name]
	s.mu.RUnlock()

	total, err := s.streamLast(ctx, name)
	if err != nil {
		return err
	}
	gen := cur.gen + 1
	if err := s.bulkLoad(ctx, name, gen, total, progress); err != nil {
		_ = s.fs.RemoveAll(s.genDir(name, gen))
		return err
	}
	next, err := s.openGen(name, gen)
	if err != nil {
		_ = s.fs.RemoveAll(s.genDir(name, gen))
		return err
	}
	abandon := func(err error) error {
		next.db.Close()
		_ = s.fs.RemoveAll(s.genDir(name, gen))
		return err
	}
	// The live generation went on meanwhile: reach it before swapping.
	if err := catchUp(ctx, next.proj, name, "catch-up", cur.proj.Applied(), progress); err != nil {
		return abandon(err)
	}

	s.mu.Lock()
	running := cur.cancel != nil
	s.live[name] = next
	if running {
		s.startLocked(next)
	}
	s.mu.Unlock()
	if running {
		cur.cancel()
		if err := <-cur.done; err != nil {
			s.cfg.Logger.Warn("replaced projection had stopped with an error", "projection", name, "err", err)
		}
	}
	if err := cur.db.Close(); err != nil {
		s.cfg.Logger.Warn("closing replaced projection", "projection", name, "err", err)
	}
	if err := s.writeCurrent(name, gen); err != nil {
		return err
	}
	if err := s.fs.RemoveAll(s.genDir(name, cur.gen)); err != nil {
		s.cfg.Logger.Warn("removing replaced projection", "projection", name, "err", err)
	}
	if progress != nil {
		progress(Progress{Projection: name, Phase: "done", Position: next.proj.Applied(), Total: next.proj.Applied()})
	}
	s.cfg.Logger.Info("projection rebuilt and swapped in", "projection", name, "generation", gen, "applied", next.proj.Applied())
	return nil
}

// bulkLoad builds generation gen of the named projection from sequence 1 to
// total: without a write-ahead log, sealed (flushed and synced) at the end.
// A crash or failure leaves a directory that is not the live generation,
// which Open and Rebuild throw away.
func (s *Set) bulkLoad(ctx context.Context, name string, gen int, total uint64, progress func(Progress)) error {
	dir := s.genDir(name, gen)
	if err := s.fs.RemoveAll(dir); err != nil {
		return fmt.Errorf("projections: %w", err)
	}
	db, err := projector.OpenBulk(dir, s.cfg.FS, s.cfg.Logger)
	if err != nil {
		return err
	}
	p, err := s.newProjector(name, db, true)
	if err == nil {
		err = catchUp(ctx, p, name, "rebuild", total, progress)
	}
	if err != nil {
		db.Close()
		return err
	}
	return projector.Seal(db)
}

// Verify rebuilds the named projection from the stream into a scratch
// database up to the live projection's checkpoint (taken from a snapshot)
// and compares every row (I6).
func (s *Set) Verify(ctx context.Context, name string, progress func(Progress)) (VerifyResult, error) {
	res := VerifyResult{Projection: name}
	if err := s.claim(name); err != nil {
		return res, err
	}
	defer s.release(name)

	s.mu.RLock()
	cur := s.live[name]
	snap := cur.db.NewSnapshot()
	s.mu.RUnlock()
	defer snap.Close()
	cp, err := projector.Checkpoint(snap)
	if err != nil {
		return res, err
	}
	res.Checkpoint = cp

	dir := filepath.Join(s.cfg.Dir, name, fmt.Sprintf("verify-%d", time.Now().UnixNano()))
	// A scratch database: thrown away, so it needs no write-ahead log.
	db, err := projector.OpenBulk(dir, s.cfg.FS, s.cfg.Logger)
	if err != nil {
		return res, err
	}
	defer func() {
		db.Close()
		_ = s.fs.RemoveAll(dir)
	}()
	p, err := s.newProjector(name, db, true)
	if err != nil {
		return res, err
	}
	if err := catchUp(ctx, p, name, "rebuild", cp, progress); err != nil {
		return res, err
	}
	if p.Applied() != cp {
		return res, fmt.Errorf("projections: verify %s: rebuilt to %d, live checkpoint %d", name, p.Applied(), cp)
	}
	if progress != nil {
		progress(Progress{Projection: name, Phase: "compare", Position: cp, Total: cp})
	}
	res.Rows, res.Count, res.Differences, err = Diff(snap, db)
	return res, err
}

// Diff compares two databases row by row.
func Diff(live, rebuilt pebble.Reader) (rows, count int, diffs []Difference, err error) {
	a, err := live.NewIter(nil)
	if err != nil {
		return 0, 0, nil, err
	}
	defer a.Close()
	b, err := rebuilt.NewIter(nil)
	if err != nil {
		return 0, 0, nil, err
	}
	defer b.Close()
	add := func(d Difference) {
		count++
		if len(diffs) < MaxDifferences {
			diffs = append(diffs, d)
		}
	}
	okA, okB := a.First(), b.First()
	for okA || okB {
		rows++
		switch c := compare(okA, okB, a, b); {
		case c < 0:
			add(Difference{Key: fmt.Sprintf("%q", a.Key()), Live: string(a.Value())})
			okA = a.Next()
		case c > 0:
			add(Difference{Key: fmt.Sprintf("%q", b.Key()), Rebuilt: string(b.Value())})
			okB = b.Next()
		default:
			if !bytes.Equal(a.Value(), b.Value()) {
				add(Difference{Key: fmt.Sprintf("%q", a.Key()), Live: string(a.Value()), Rebuilt: string(b.Value())})
			}
			okA, okB = a.Next(), b.Next()
		}
	}
	return rows, count, diffs, errors.Join(a.Error(), b.Error())
}

func compare(okA, okB bool, a, b *pebble.Iterator) int {
	switch {
	case !okB:
		return -1
	case !okA:
		return 1
	}
	return bytes.Compare(a.Key(), b.Key())
}
