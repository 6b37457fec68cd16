package projector

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/events"
)

type formatted struct{ f int }

func (formatted) Name() string                   { return "formatted" }
func (formatted) Apply(*Tx, events.Record) error { return nil }
func (p formatted) Format() int                  { return p.f }

type unversioned struct{}

func (unversioned) Name() string                   { return "unversioned" }
func (unversioned) Apply(*Tx, events.Record) error { return nil }

// TestFormat: an empty database takes its projection's format; an
// unmarked one with a checkpoint is format 1 and gets marked; a database in
// another format is ErrFormat and left as it is.
func TestFormat(t *testing.T) {
	open := func(t *testing.T) *pebble.DB {
		db, err := Open(t.TempDir(), nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	stored := func(t *testing.T, db *pebble.DB, want int) {
		t.Helper()
		if f, err := StoredFormat(db); err != nil || f != want {
			t.Fatalf("stored format %d, %v; want %d", f, err, want)
		}
	}
	if FormatOf(Events(unversioned{})) != 1 || FormatOf(Events(formatted{3})) != 3 {
		t.Fatal("FormatOf does not see through Events")
	}

	db := open(t)
	stored(t, db, 0)
	if _, err := New(db, formatted{3}, nil, Config{}); err != nil {
		t.Fatal(err)
	}
	stored(t, db, 3)
	if _, err := New(db, formatted{3}, nil, Config{}); err != nil {
		t.Fatalf("same format again: %v", err)
	}
	if _, err := New(db, formatted{4}, nil, Config{}); !errors.Is(err, ErrFormat) {
		t.Fatalf("format 4 over 3: %v, want ErrFormat", err)
	}
	stored(t, db, 3)

	old := open(t)
	if err := old.Set(CheckpointKey, []byte{0, 0, 0, 0, 0, 0, 0, 9}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	stored(t, old, 1)
	if _, err := New(old, formatted{2}, nil, Config{}); !errors.Is(err, ErrFormat) {
		t.Fatalf("format 2 over unmarked: %v, want ErrFormat", err)
	}
	if _, err := New(old, unversioned{}, nil, Config{}); err != nil {
		t.Fatal(err)
	}
	if v, closer, err := old.Get(FormatKey); err != nil || string(v) != "1" {
		t.Fatalf("unmarked database not marked: %q, %v", v, err)
	} else {
		closer.Close()
	}

	bad := open(t)
	if err := bad.Set(FormatKey, []byte("x"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if _, err := New(bad, unversioned{}, nil, Config{}); err == nil {
		t.Fatal("a format marker that is not a number was accepted")
	}
}
