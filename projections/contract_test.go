package projections_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/projections/outbox"
	"github.com/hongbao/hongbao/projections/projectiontest"
	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/projections/users"
	"github.com/hongbao/hongbao/projections/wallets"
)

// contractEvents is the contract suite's history (projectiontest's text
// form): envelopes finished with a best luck and with a tie, expired with a
// refund, cancelled, across the China-time new year, interleaved. Their
// transfers are delivered to the ledger, for the wallets.
const contractEvents = `
wrapped env=E1 at=2025-12-31T15:40:00Z sender=alice kind=lucky total=1000 count=3
paid env=E1
wrapped env=E2 sender=bob kind=lucky total=900 count=3
opened env=E1 at=2025-12-31T15:59:59Z user=bob amount=200
paid env=E2
opened env=E2 user=alice amount=400
opened env=E1 at=2025-12-31T16:30:00Z user=carol amount=500
wrapped env=E3 sender=carol kind=equal total=400 count=4
opened env=E2 user=carol amount=400
paid env=E3
opened env=E1 user=dave amount=300
opened env=E3 user=alice
wrapped env=E4 sender=dave kind=equal total=200 count=2
opened env=E2 user=dave amount=100
opened env=E3 user=bob
cancelled env=E4 at=+15m
expired env=E3 at=+24h
wrapped env=E5 sender=alice kind=equal total=300 count=3
paid env=E5
opened env=E5 user=bob
opened env=E5 user=carol
opened env=E5 user=dave
`

// contractCase is one implementation the contract runs over: a projection
// and the stream it reads, as projections.Set runs it.
type contractCase struct {
	name string
	spec projectiontest.Spec
}

func contractCases() []contractCase {
	return []contractCase{
		{"detail", projectiontest.Envelopes(detail.Projection{})},
		{"users", projectiontest.Envelopes(users.Projection{})},
		{"outbox", projectiontest.Envelopes(outbox.Projection{})},
		{"wallets", projectiontest.Ledger(wallets.Projection{})},
	}
}

// TestContract is the one suite every projection passes, as litestream
// runs one suite over every replica client: for each projection of
// projections.Names, over a real JetStream and real Pebble databases,
//
//   - resuming from any checkpoint gives the rows of one pass: the
//     projector stopped and reopened after every event (each its own
//     batch and checkpoint) applies nothing twice and skips nothing;
//   - a crash before a checkpoint loses the batch being built and the
//     unsynced ones, the events are delivered again, and the rows are
//     those of one pass;
//   - a build with another format refuses the database (ErrFormat)
//     rather than misread it, and leaves it as it is;
//
// and for the set of them, as the service runs them:
//
//   - a rebuild from the streams equals the live projection (Verify
//     reports no difference, I6), before and after Rebuild swaps a new
//     generation in;
//   - a database in another format starts a new generation, filled from
//     the stream, with the rows of one pass (and none of the old one); an
//     unmarked database, from before formats were recorded, is format 1:
//     rebuilt where the projection has moved on (detail, users, outbox),
//     kept where it has not (wallets). This was TestOldFormatIsRebuilt,
//     for the outbox alone.
//
// The crash cases of projector/crash_test.go go further for the envelope
// projections (every kind of crash moment, unsynced data); this suite
// checks the same promise for every projection, the wallets included.
func TestContract(t *testing.T) {
	env := projectiontest.NewEnv(t)
	env.Deliver = true
	if _, err := env.Apply(contractEvents); err != nil {
		t.Fatal(err)
	}
	cases := contractCases()
	var names []string
	for _, c := range cases {
		names = append(names, c.name)
		if c.spec.Proj.Name() != c.name {
			t.Fatalf("case %s runs projection %s", c.name, c.spec.Proj.Name())
		}
	}
	if !slices.Equal(names, projections.Names) {
		t.Fatalf("the contract runs over %v, the set runs %v", names, projections.Names)
	}

	// One pass over each stream: what every other way must equal.
	ref := map[string]*projectiontest.View{}
	for _, c := range cases {
		v := env.Open(t, c.spec)
		v.CatchUp(t)
		if v.Projector.Applied() == 0 {
			t.Fatalf("%s: nothing to apply", c.name)
		}
		ref[c.name] = v
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := ref[c.name]
			last := want.Projector.Applied()

			t.Run("resumed at every checkpoint", func(t *testing.T) {
				dir := t.TempDir()
				for seq := uint64(1); seq <= last; seq++ {
					v := env.OpenAt(t, c.spec, nil, dir, projector.Config{BatchSize: 1})
					if a := v.Projector.Applied(); a != seq-1 {
						t.Fatalf("reopened at checkpoint %d, want %d", a, seq-1)
					}
					v.CatchUpTo(t, seq)
					v.CatchUpTo(t, seq) // again: nothing to do
					v.Close(t)
				}
				v := env.OpenAt(t, c.spec, nil, dir, projector.Config{})
				sameRows(t, v.DB, want.DB)
			})

			for _, at := range []uint64{last/2 + 1, last} {
				t.Run(fmt.Sprintf("crash inside the batch of %d", at), func(t *testing.T) {
					fs := vfs.NewCrashableMem()
					hook := &crashAt{RawProjection: c.spec.Proj, at: at, fs: fs}
					spec := c.spec
					spec.Proj = hook
					v := env.OpenAt(t, spec, fs, "db", projector.Config{BatchSize: 3})
					v.CatchUp(t)
					if hook.clone == nil {
						t.Fatalf("event %d was never applied", at)
					}
					after := env.OpenAt(t, c.spec, hook.clone, "db", projector.Config{})
					if cp := after.Projector.Applied(); cp >= at {
						t.Fatalf("the crash image has checkpoint %d, at or after the event %d being applied", cp, at)
					}
					after.CatchUp(t)
					sameRows(t, after.DB, want.DB)
				})
			}

			t.Run("another format is refused", func(t *testing.T) {
				have := projector.FormatOf(c.spec.Proj)
				if f, err := projector.StoredFormat(want.DB); err != nil || f != have {
					t.Fatalf("stored format %d, %v; want %d", f, err, have)
				}
				bumped := formatted{RawProjection: c.spec.Proj, format: have + 1}
				if _, err := projector.NewRaw(want.DB, bumped, env.JS, projector.Config{Stream: c.spec.Stream, Filter: c.spec.Filter}); !errors.Is(err, projector.ErrFormat) {
					t.Fatalf("format %d over %d: %v, want ErrFormat", have+1, have, err)
				}
				if f, err := projector.StoredFormat(want.DB); err != nil || f != have {
					t.Fatalf("after the refusal: stored format %d, %v; want %d", f, err, have)
				}
			})
		})
	}

	t.Run("set", func(t *testing.T) {
		dir := t.TempDir()
		open := func() *projections.Set {
			t.Helper()
			set, err := projections.Open(env.JS, projections.Config{Dir: dir})
			if err != nil {
				t.Fatal(err)
			}
			set.Start()
			natstest.Eventually(t, projectiontest.Timeout, func() error { return caughtUp(set) })
			return set
		}
		gens := map[string]int{} // the live generation of each projection
		for _, name := range projections.Names {
			gens[name] = 1
		}
		generations := func(set *projections.Set) {
			t.Helper()
			lags, err := set.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range lags {
				testenv.Eq(t, l.Name+" generation", l.Generation, gens[l.Name])
			}
		}
		set := open()
		generations(set)
		t.Run("a rebuild equals the live projection", func(t *testing.T) { verifyAll(t, set) })
		t.Run("rebuilt, then verified again", func(t *testing.T) {
			for _, name := range projections.Names {
				if err := set.Rebuild(context.Background(), name, nil); err != nil {
					t.Fatalf("rebuild %s: %v", name, err)
				}
				gens[name]++
			}
			generations(set)
			verifyAll(t, set)
		})
		if err := set.Close(); err != nil {
			t.Fatal(err)
		}

		// reformat rewrites every projection's live database as another
		// build would have left it, reopens the set, and checks which
		// projections started a new generation and that each has the rows
		// of one pass (so no row of the old generation is read).
		reformat := func(t *testing.T, rewrite func(c contractCase, db *pebble.DB) (rebuilt bool, err error)) {
			for _, c := range cases {
				db, err := projector.Open(genDir(dir, c.name, gens[c.name]), nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				rebuilt, err := rewrite(c, db)
				if err := errors.Join(err, db.Close()); err != nil {
					t.Fatal(err)
				}
				if rebuilt {
					gens[c.name]++
				}
			}
			set := open()
			generations(set)
			verifyAll(t, set)
			if err := set.Close(); err != nil {
				t.Fatal(err)
			}
			for _, c := range cases {
				db, err := projector.Open(genDir(dir, c.name, gens[c.name]), nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Run(c.name, func(t *testing.T) { sameRows(t, db, ref[c.name].DB) })
				if err := db.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}
		stale := []byte("~stale row of the old format")
		t.Run("a format bump starts a new generation", func(t *testing.T) {
			reformat(t, func(c contractCase, db *pebble.DB) (bool, error) {
				other := strconv.Itoa(projector.FormatOf(c.spec.Proj) + 1)
				return true, errors.Join(db.Set(projector.FormatKey, []byte(other), pebble.Sync), db.Set(stale, stale, pebble.Sync))
			})
		})
		// Databases from before formats were recorded have no marker and
		// are format 1: rebuilt where the projection is at another format
		// now, kept (and marked) where it is still at 1.
		t.Run("an unmarked database is format 1", func(t *testing.T) {
			reformat(t, func(c contractCase, db *pebble.DB) (bool, error) {
				if err := db.Delete(projector.FormatKey, pebble.Sync); err != nil {
					return false, err
				}
				if projector.FormatOf(c.spec.Proj) == 1 {
					return false, nil
				}
				return true, db.Set(stale, stale, pebble.Sync)
			})
		})
	})
}

func genDir(dir, name string, gen int) string {
	return filepath.Join(dir, name, fmt.Sprintf("gen-%06d", gen))
}

// sameRows fails t unless got and want hold the same rows, checkpoint and
// format marker included.
func sameRows(t *testing.T, got, want pebble.Reader) {
	t.Helper()
	rows, n, diffs, err := projections.Diff(got, want)
	if err != nil {
		t.Fatal(err)
	}
	if rows == 0 {
		t.Fatal("no rows")
	}
	if n > 0 {
		for _, d := range diffs[:min(len(diffs), 5)] {
			t.Errorf("%s\n  got:  %q\n  want: %q", d.Key, d.Live, d.Rebuilt)
		}
		t.Fatalf("%d of %d rows differ from one pass", n, rows)
	}
}

// crashAt clones its file system as a crash would leave it (unsynced data
// lost) when it is about to apply event at: the events before it in the
// batch being built are not committed yet, and earlier batches may not be
// synced.
type crashAt struct {
	projector.RawProjection
	at    uint64
	fs    *vfs.MemFS
	clone *vfs.MemFS
}

func (c *crashAt) Format() int { return projector.FormatOf(c.RawProjection) }

func (c *crashAt) ApplyMsg(tx *projector.Tx, seq uint64, data []byte) error {
	if seq == c.at && c.clone == nil {
		c.clone = c.fs.CrashClone(vfs.CrashCloneCfg{})
	}
	return c.RawProjection.ApplyMsg(tx, seq, data)
}

// formatted is a projection as a build with another format of its rows
// would have it.
type formatted struct {
	projector.RawProjection
	format int
}

func (f formatted) Format() int { return f.format }
