package projections_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/service"
)

// TestOldFormatIsRebuilt: a projection whose database was written in
// another format (here the outbox's format 1, JSON rows, from before
// format 2) is not read: Open starts the next generation from the stream,
// which then lists every transfer, and the rest are kept as they are.
func TestOldFormatIsRebuilt(t *testing.T) {
	dir := t.TempDir()
	h := testenv.Start(t, service.Config{}, testenv.WithoutProjections())
	set := h.StartProjections(dir)
	var ids []string
	for i := range 4 {
		id := h.WrapAndPay("lucky", 500, 3)
		h.Open(id, userPool[i])
		ids = append(ids, id)
	}
	natstest.Eventually(t, 10*time.Second, func() error { return caughtUp(set) })
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}

	// Make the outbox an old one: format 1 (no marker) and a row of it.
	db, err := projector.Open(filepath.Join(dir, "outbox", "gen-000001"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(db.Delete(projector.FormatKey, nil),
		db.Set([]byte("o/q/\x00\x00\x00\x00\x00\x00\x00\x02"), []byte("fund:"+ids[0]), pebble.Sync)); err != nil {
		t.Fatal(err)
	}
	if f, err := projector.StoredFormat(db); err != nil || f != 1 {
		t.Fatalf("stored format %d, %v; want 1", f, err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	set = h.StartProjections(dir)
	natstest.Eventually(t, 10*time.Second, func() error { return caughtUp(set) })
	lags, err := set.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lags {
		want := 1
		if l.Name == "outbox" {
			want = 2
		}
		testenv.Eq(t, l.Name+" generation", l.Generation, want)
	}
	got, err := set.Outbox(context.Background(), 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, id := range ids {
		want["fund:"+id], want["open:"+id+":1"] = true, true
	}
	testenv.Eq(t, "transfers", len(got), len(want))
	for _, tr := range got {
		if !want[tr.ID] {
			t.Errorf("transfer %+v", tr)
		}
	}
	verifyAll(t, set)
}
