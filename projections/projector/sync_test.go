package projector_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/projections/projector"
)

// walSyncs is a file system that counts the syncs of write-ahead logs.
type walSyncs struct {
	vfs.FS
	n atomic.Int64
}

func (fs *walSyncs) wrap(name string, f vfs.File, err error) (vfs.File, error) {
	if err != nil || !strings.HasSuffix(name, ".log") {
		return f, err
	}
	return &walFile{File: f, n: &fs.n}, nil
}

func (fs *walSyncs) Create(name string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, c)
	return fs.wrap(name, f, err)
}

func (fs *walSyncs) ReuseForWrite(oldname, newname string, c vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, c)
	return fs.wrap(newname, f, err)
}

func (fs *walSyncs) OpenReadWrite(name string, c vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	f, err := fs.FS.OpenReadWrite(name, c, opts...)
	return fs.wrap(name, f, err)
}

type walFile struct {
	vfs.File
	n *atomic.Int64
}

func (f *walFile) Sync() error     { f.n.Add(1); return f.File.Sync() }
func (f *walFile) SyncData() error { f.n.Add(1); return f.File.SyncData() }
func (f *walFile) SyncTo(length int64) (bool, error) {
	f.n.Add(1)
	return f.File.SyncTo(length)
}

// TestPacedSyncs: batches applied within one SyncInterval are made durable
// by one WAL sync, and a batch's checkpoint is published (Applied) only
// after the sync that covers it (invariant 4), however long the interval.
// A view that synced every batch stalled the money path's writes on the
// same file system (DefaultSyncInterval).
func TestPacedSyncs(t *testing.T) {
	srv := natstest.Start(t, natstest.WithSyncInterval(2*time.Minute))
	js := srv.JetStream(t)
	first := testenv.PublishWorkload(t, js, 10, 3, 7)

	open := func(t *testing.T, interval time.Duration) (*walSyncs, *projector.Projector) {
		fs := &walSyncs{FS: vfs.NewMem()}
		db, err := projector.Open("db", fs, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		// One event a batch: as many batches as events.
		p, err := projector.New(db, detail.Projection{}, js, projector.Config{BatchSize: 1, SyncInterval: interval})
		if err != nil {
			t.Fatal(err)
		}
		return fs, p
	}

	t.Run("catch-up", func(t *testing.T) {
		for _, c := range []struct {
			name     string
			interval time.Duration
			most     int64 // WAL syncs at most
		}{
			// The first batch is synced at once; all the others wait out
			// the interval together and are synced when CatchUp ends.
			{"hour", time.Hour, 2},
			{"every-batch", -1, int64(first)},
		} {
			t.Run(c.name, func(t *testing.T) {
				fs, p := open(t, c.interval)
				before := fs.n.Load()
				start := time.Now()
				if err := p.CatchUp(t.Context(), first); err != nil {
					t.Fatal(err)
				}
				syncs := fs.n.Load() - before
				if p.Applied() != first {
					t.Fatalf("applied %d after CatchUp(%d)", p.Applied(), first)
				}
				if syncs < 1 || syncs > c.most {
					t.Fatalf("%d batches made durable with %d WAL syncs, want 1 to %d", first, syncs, c.most)
				}
				if time.Since(start) > time.Minute {
					t.Fatalf("CatchUp waited out the interval: %s", time.Since(start))
				}
				t.Logf("%d batches, %d WAL syncs", first, syncs)
			})
		}
	})

	t.Run("live", func(t *testing.T) {
		fs, p := open(t, time.Hour)
		if err := p.CatchUp(t.Context(), first); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		stop := sync.OnceFunc(func() { cancel(); <-done })
		t.Cleanup(stop) // before the database closes

		// The first batch of a run is synced at once; the rest wait for
		// the next sync, an hour away.
		testenv.PublishWorkload(t, js, 2, 3, 8)
		natstest.Eventually(t, time.Minute, func() error {
			if a := p.Applied(); a <= first {
				return fmt.Errorf("applied %d, want past %d", a, first)
			}
			return nil
		})
		applied, synced := p.Applied(), fs.n.Load()
		last := testenv.PublishWorkload(t, js, 3, 3, 9)
		db := p.DB()
		natstest.Eventually(t, time.Minute, func() error {
			if cp, err := projector.Checkpoint(db); err != nil || cp != last {
				return fmt.Errorf("checkpoint %d (%v) of %d", cp, err, last)
			}
			return nil
		})
		// Every event is applied, its rows visible: but a checkpoint is
		// published only after its sync.
		if a, n := p.Applied(), fs.n.Load(); a != applied || n != synced {
			t.Fatalf("applied %d after %d more WAL syncs; want %d until the next sync", a, n-synced, applied)
		}
		stop()
		// Stopping syncs what is left and publishes it.
		if a := p.Applied(); a != last || fs.n.Load() <= synced {
			t.Fatalf("after stop: applied %d, %d more WAL syncs; want %d after a sync", a, fs.n.Load()-synced, last)
		}
	})
}
