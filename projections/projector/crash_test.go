package projector_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/projections/outbox"
	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/projections/users"
)

// The crash workload: 100 envelopes of 10 shares opened to the end (best
// luck is awarded) except every 5th, which stops one short and expires with
// a refund: about 1,200 events, about 170 batches of crashBatch.
const (
	crashEnvelopes = 100
	crashOpens     = 10
	crashBatch     = 7
	crashTimeout   = time.Minute
	// crashFlushEvery makes the running database flush its memtable, so
	// that a crash also finds sstables, rotated WALs and MANIFEST edits in
	// flight, not just one WAL.
	crashFlushEvery = 5 * time.Millisecond
	crashShowDiffs  = 5
	// crashRunningClones crash images are taken crashRunningGap apart in
	// the running cases.
	crashRunningClones = 6
	crashRunningGap    = 500 * time.Microsecond
)

// crashMode is when a crash case clones the file system.
type crashMode int

const (
	// crashAtStart clones right after the projector starts.
	crashAtStart crashMode = iota
	// crashInsideBatch clones from inside Apply of event at, once the
	// batches before it are durable: the batch in memory holds events up to
	// at-1 and has not been committed, and nothing is committing.
	crashInsideBatch
	// crashInsideBatchCommitting clones from inside Apply of event at at
	// once: the batches before it may still be on their way into the
	// database or to disk (the projector builds the next batch meanwhile).
	crashInsideBatchCommitting
	// crashRunning clones from the test goroutine, concurrently with the
	// projector (and the flusher), once Applied() has reached at.
	crashRunning
	// crashBetweenBatches clones after CatchUp(at) returned: nothing is in
	// flight.
	crashBetweenBatches
)

type crashCase struct {
	name     string
	mode     crashMode
	at       uint64
	unsynced int // CrashCloneCfg.UnsyncedDataPercent
}

func crashCases(last uint64) []crashCase {
	return []crashCase{
		{"start/unsynced-50", crashAtStart, 0, 50},
		{"between-batches/unsynced-0", crashBetweenBatches, last/5 + 3, 0},
		{"inside-batch/unsynced-0", crashInsideBatch, last/3 + 1, 0},
		{"inside-batch/unsynced-50", crashInsideBatch, last/2 + 2, 50},
		{"inside-batch-committing/unsynced-0", crashInsideBatchCommitting, last/4 + 5, 0},
		{"inside-batch-committing/unsynced-50", crashInsideBatchCommitting, last*3/5 + 1, 50},
		{"running/unsynced-0", crashRunning, last * 2 / 3, 0},
		{"running/unsynced-50", crashRunning, last * 3 / 4, 50},
	}
}

// TestCrashExactlyOnce: a projector killed between batches never applies an
// event twice and never skips one (projector invariant 1).
//
// For every projection and crash point, a projector with small batches
// runs on a crashable in-memory file system (with a flusher on the side)
// and the file system is cloned as a crash would leave it: everything
// synced, and in the "unsynced-50" cases also a random half of what was
// written but not synced (torn WAL tails, half-written sstables and
// directory entries). pebble's CrashClone blocks the file system's writers
// while it copies, so cloning concurrently with the projector is safe; the
// original is then stopped and thrown away. On the clone:
//
//  1. the checkpoint lies between what the projector had reported applied
//     before the crash (reported means durable) and where it stopped;
//     inside a batch (once the batches before it are durable) and between
//     batches it is exactly the last reported; inside a batch while the
//     batches before it may still be committing (the projector commits a
//     batch while it applies the next), it is before the event being
//     applied;
//  2. the database is exactly the projection built from scratch to that
//     checkpoint (with other batch boundaries): a batch is there whole with
//     its checkpoint, or not at all;
//  3. a new projector resumed on it up to the stream's end gives exactly
//     the projection built from scratch over the whole stream.
//
// A replayed event would show in 3 as doubled counts and totals (users) or
// a refused open (detail); a skipped one as missing rows
// (TestCrashCheckHasTeeth shows that these comparisons catch both).
func TestCrashExactlyOnce(t *testing.T) {
	srv := natstest.Start(t, natstest.WithSyncInterval(2*time.Minute)) // the stream's durability is not under test
	js := srv.JetStream(t)
	last := testenv.PublishWorkload(t, js, crashEnvelopes, crashOpens, 42)
	seed := uint64(time.Now().UnixNano())
	t.Logf("stream of %d events; crash RNG seed %d", last, seed)

	for _, proj := range []projector.Projection{detail.Projection{}, users.Projection{}, outbox.Projection{}} {
		t.Run(proj.Name(), func(t *testing.T) {
			full := crashBuild(t, js, proj, last)
			for i, c := range crashCases(last) {
				t.Run(c.name, func(t *testing.T) {
					rng := rand.New(rand.NewPCG(seed, uint64(i)))
					crashRun(t, js, proj, c, last, full, rng)
				})
			}
		})
	}
}

// crashHook is a projection that calls fire (once) before applying the
// event at sequence at.
type crashHook struct {
	projector.Projection
	at   uint64
	once sync.Once
	fire func()
}

// Format is the wrapped projection's.
func (h *crashHook) Format() int { return projector.FormatOf(projector.Events(h.Projection)) }

func (h *crashHook) Apply(tx *projector.Tx, rec events.Record) error {
	if h.fire != nil && rec.Seq == h.at {
		h.once.Do(h.fire)
	}
	return h.Projection.Apply(tx, rec)
}

// crashImage is the file system as one crash left it, and what the
// projector had reported applied (durable) just before.
type crashImage struct {
	fs     *vfs.MemFS
	before uint64
}

func crashRun(t *testing.T, js jetstream.JetStream, proj projector.Projection, c crashCase, last uint64, full *pebble.DB, rng *rand.Rand) {
	const dir = "db"
	fs := vfs.NewCrashableMem()
	db, err := projector.Open(dir, fs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	hook := &crashHook{Projection: proj, at: c.at}
	p, err := projector.New(db, hook, js, projector.Config{BatchSize: crashBatch})
	if err != nil {
		t.Fatal(err)
	}

	var images []crashImage
	fired := make(chan struct{})
	crash := func() {
		before := p.Applied()
		images = append(images, crashImage{fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: c.unsynced, RNG: rng}), before})
	}
	switch c.mode {
	case crashInsideBatch:
		hook.fire = func() {
			defer close(fired)
			if err := crashSettle(db, p, c.at); err != nil {
				t.Error(err)
				return
			}
			crash()
		}
	case crashInsideBatchCommitting:
		hook.fire = func() { crash(); close(fired) }
	}

	// The flusher runs beside the projector until stop.
	ctx, cancel := context.WithCancel(t.Context())
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		tick := time.NewTicker(crashFlushEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := db.Flush(); err != nil {
					t.Errorf("flush: %v", err)
					return
				}
			}
		}
	}()
	runDone := make(chan error, 1)
	if c.mode == crashBetweenBatches {
		runDone <- p.CatchUp(ctx, c.at)
	} else {
		go func() { runDone <- p.Run(ctx) }()
	}
	stop := sync.OnceValue(func() error {
		cancel()
		<-flusherDone
		return <-runDone
	})
	t.Cleanup(func() { _ = stop() })

	switch c.mode {
	case crashAtStart:
		crash()
	case crashRunning:
		// Once past c.at, crash several times in a row while the projector
		// goes on: each clone lands at a random point of its commit cycle
		// (building a batch, writing the WAL, syncing it, flushing).
		natstest.Eventually(t, crashTimeout, func() error {
			if a := p.Applied(); a < c.at {
				return fmt.Errorf("applied %d of %d", a, c.at)
			}
			return nil
		})
		for range crashRunningClones {
			crash()
			if p.Applied() == last {
				break
			}
			time.Sleep(crashRunningGap)
		}
	case crashInsideBatch, crashInsideBatchCommitting:
		select {
		case <-fired:
		case <-time.After(crashTimeout):
			t.Fatalf("event %d not applied within %s (applied %d)", c.at, crashTimeout, p.Applied())
		}
	case crashBetweenBatches:
		if err := <-runDone; err != nil {
			t.Fatalf("CatchUp(%d): %v", c.at, err)
		}
		runDone <- nil
		crash()
	}
	// Kill the original: whatever it does from now on is lost with it.
	if err := stop(); err != nil {
		t.Fatalf("projector: %v", err)
	}
	stopped := p.Applied()
	for i, img := range images {
		t.Run(fmt.Sprintf("image-%d", i), func(t *testing.T) {
			crashCheck(t, js, proj, c, img, stopped, last, full)
		})
	}
}

// crashSettle waits, from inside Apply of event at, until the batches
// before it are durable. The projector commits batches on other goroutines
// while it applies the next: the last batch handed over (ending at
// at-crashBatch or later, since the batch being built holds fewer events)
// becomes visible in the database, then durable (Applied).
func crashSettle(db *pebble.DB, p *projector.Projector, at uint64) error {
	deadline := time.Now().Add(crashTimeout)
	for {
		visible, err := projector.Checkpoint(db)
		if err != nil {
			return err
		}
		if visible+crashBatch >= at {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			defer cancel()
			return p.WaitFor(ctx, visible)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("inside the batch of %d, the batch before is not committed within %s (visible checkpoint %d)", at, crashTimeout, visible)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// crashCheck reopens a crash image and checks it (1, 2, 3 of
// TestCrashExactlyOnce).
func crashCheck(t *testing.T, js jetstream.JetStream, proj projector.Projection, c crashCase, img crashImage, stopped, last uint64, full *pebble.DB) {
	// 1. The checkpoint that survived.
	cdb, err := projector.Open("db", img.fs, nil)
	if err != nil {
		t.Fatalf("reopen after the crash: %v", err)
	}
	t.Cleanup(func() { _ = cdb.Close() })
	cp, err := projector.Checkpoint(cdb)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("reported %d before the crash, checkpoint %d after it, original stopped at %d of %d", img.before, cp, stopped, last)
	switch c.mode {
	case crashInsideBatch, crashBetweenBatches:
		if cp != img.before {
			t.Fatalf("checkpoint %d after a crash with %d durably applied and nothing committing", cp, img.before)
		}
	case crashInsideBatchCommitting:
		if cp < img.before || cp >= c.at {
			t.Fatalf("checkpoint %d outside [%d reported before the crash, %d before the event being applied]", cp, img.before, c.at-1)
		}
	default:
		if cp < img.before || cp > stopped {
			t.Fatalf("checkpoint %d outside [%d reported before the crash, %d where the original stopped]", cp, img.before, stopped)
		}
	}
	if c.mode == crashInsideBatch && (cp >= c.at || cp+crashBatch < c.at) {
		t.Fatalf("crash before applying %d left checkpoint %d: not the batch before", c.at, cp)
	}

	// 2. The database is whole at its checkpoint.
	crashCompare(t, fmt.Sprintf("at checkpoint %d", cp), cdb, crashBuild(t, js, proj, cp))

	// 3. Resumed, it ends where a rebuild from scratch ends. (Default
	// batches: with tiny ones, nats.go's Messages sometimes stalls until
	// its missed-heartbeat reset, 10 s, which only slows the test down.)
	rp, err := projector.New(cdb, proj, js, projector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), crashTimeout)
	defer cancel()
	if err := rp.CatchUp(ctx, last); err != nil {
		t.Fatalf("resume from %d: %v", cp, err)
	}
	crashCompare(t, fmt.Sprintf("resumed from %d to %d", cp, last), cdb, full)
}

// crashBuild builds proj from scratch up to target on a fresh in-memory
// file system, with large batches (other boundaries than the crashed one).
func crashBuild(t *testing.T, js jetstream.JetStream, proj projector.Projection, target uint64) *pebble.DB {
	t.Helper()
	db, err := projector.Open("ref", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	p, err := projector.New(db, proj, js, projector.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), crashTimeout)
	defer cancel()
	if err := p.CatchUp(ctx, target); err != nil {
		t.Fatalf("build %s to %d: %v", proj.Name(), target, err)
	}
	if a := p.Applied(); a != target {
		t.Fatalf("build %s to %d stopped at %d", proj.Name(), target, a)
	}
	return db
}

// crashCompare fails the test unless got and want hold the same rows.
func crashCompare(t *testing.T, what string, got, want *pebble.DB) {
	t.Helper()
	rows, n, diffs, err := projections.Diff(got, want)
	if err != nil {
		t.Fatalf("%s: diff: %v", what, err)
	}
	if n == 0 {
		return
	}
	t.Errorf("%s: %d of %d rows differ from a rebuild from scratch; the first ones:", what, n, rows)
	for _, d := range diffs[:min(len(diffs), crashShowDiffs)] {
		t.Errorf("  %s\n    crashed: %s\n    rebuilt: %s", d.Key, d.Live, d.Rebuilt)
	}
	t.FailNow()
}

// TestCrashCheckHasTeeth shows that the comparisons of TestCrashExactlyOnce
// would catch a projector that replays or skips events: a checkpoint moved
// back by a few events (replay) or forward (skip), then resumed to the end,
// is caught either by the projection refusing an event or by Diff against
// a rebuild from scratch. The one exception is by design: the outbox is
// idempotent under replay (transfer ids derive from the event alone), so a
// replay leaves it unchanged; a skip is still caught.
func TestCrashCheckHasTeeth(t *testing.T) {
	srv := natstest.Start(t, natstest.WithSyncInterval(2*time.Minute))
	js := srv.JetStream(t)
	last := testenv.PublishWorkload(t, js, 30, crashOpens, 7)
	mid := last / 2
	const shift = 5

	for _, proj := range []projector.Projection{detail.Projection{}, users.Projection{}, outbox.Projection{}} {
		t.Run(proj.Name(), func(t *testing.T) {
			full := crashBuild(t, js, proj, last)
			for _, tc := range []struct {
				name string
				cp   uint64
			}{{"replay", mid - shift}, {"skip", mid + shift}} {
				t.Run(tc.name, func(t *testing.T) {
					db := crashBuild(t, js, proj, mid)
					if err := db.Set(projector.CheckpointKey, binary.BigEndian.AppendUint64(nil, tc.cp), pebble.Sync); err != nil {
						t.Fatal(err)
					}
					p, err := projector.New(db, proj, js, projector.Config{BatchSize: crashBatch})
					if err != nil {
						t.Fatal(err)
					}
					ctx, cancel := context.WithTimeout(t.Context(), crashTimeout)
					defer cancel()
					err = p.CatchUp(ctx, last)
					if errors.Is(err, projector.ErrLagging) {
						t.Fatal(err)
					}
					_, n, _, derr := projections.Diff(db, full)
					if derr != nil {
						t.Fatal(derr)
					}
					caught := err != nil || n > 0
					t.Logf("checkpoint %d at %d, resumed: err %v, %d rows differ", tc.cp, mid, err, n)
					if want := !(proj.Name() == "outbox" && tc.name == "replay"); caught != want {
						t.Fatalf("%s of events %d..%d caught = %v, want %v", tc.name, min(tc.cp, mid)+1, max(tc.cp, mid), caught, want)
					}
				})
			}
		})
	}
}
