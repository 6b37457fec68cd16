package projector_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/projections/outbox"
	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/projections/users"
)

// TestBulkLoad: a projection loaded in bulk (no WAL) and sealed holds
// exactly the rows of a normal build to the same sequence, and resumed with
// a normal projector it equals a normal build of the whole stream. A crash
// before the seal keeps at most a consistent prefix: whatever a clone holds
// equals a normal build to its checkpoint, and once sealed nothing is lost
// even keeping none of the unsynced data.
func TestBulkLoad(t *testing.T) {
	srv := natstest.Start(t, natstest.WithSyncInterval(2*time.Minute))
	js := srv.JetStream(t)
	last := testenv.PublishWorkload(t, js, 60, crashOpens, 11)
	mid := last / 2
	rng := rand.New(rand.NewPCG(11, 12))

	for _, proj := range []projector.Projection{detail.Projection{}, users.Projection{}, outbox.Projection{}} {
		t.Run(proj.Name(), func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			db, err := projector.OpenBulk("bulk", fs, nil)
			if err != nil {
				t.Fatal(err)
			}
			p, err := projector.New(db, proj, js, projector.Config{BatchSize: crashBatch, Bulk: true})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), crashTimeout)
			defer cancel()
			if err := p.CatchUp(ctx, mid); err != nil {
				t.Fatal(err)
			}
			if a := p.Applied(); a != mid {
				t.Fatalf("bulk load to %d stopped at %d", mid, a)
			}

			// Crashed before the seal: a consistent prefix, perhaps empty.
			before := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0, RNG: rng})
			cdb, err := projector.Open("bulk", before, nil)
			if err != nil {
				t.Fatalf("open the image crashed before the seal: %v", err)
			}
			cp, err := projector.Checkpoint(cdb)
			if err != nil {
				t.Fatal(err)
			}
			if cp > mid {
				t.Fatalf("crashed before the seal at %d: checkpoint %d", mid, cp)
			}
			if cp > 0 {
				crashCompare(t, "crashed before the seal", cdb, crashBuild(t, js, proj, cp))
			}
			if err := cdb.Close(); err != nil {
				t.Fatal(err)
			}

			if err := projector.Seal(db); err != nil {
				t.Fatal(err)
			}
			// Sealed: all of it survives a crash that keeps nothing unsynced.
			after := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0, RNG: rng})
			sealed, err := projector.Open("bulk", after, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer sealed.Close()
			if cp, err := projector.Checkpoint(sealed); err != nil || cp != mid {
				t.Fatalf("sealed at %d, crashed: checkpoint %d (%v)", mid, cp, err)
			}
			crashCompare(t, "sealed", sealed, crashBuild(t, js, proj, mid))

			// Resumed normally, with its WAL, to the end.
			p, err = projector.New(sealed, proj, js, projector.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.CatchUp(ctx, last); err != nil {
				t.Fatal(err)
			}
			crashCompare(t, "resumed", sealed, crashBuild(t, js, proj, last))
			if err := sealed.Set([]byte("z"), nil, pebble.Sync); err != nil {
				t.Fatalf("the resumed database has no WAL: %v", err)
			}
		})
	}
}
