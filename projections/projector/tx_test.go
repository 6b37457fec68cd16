package projector

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

type testRow struct {
	N int    `json:"n"`
	S string `json:"s,omitempty"`
}

func memDB(t *testing.T) *pebble.DB {
	t.Helper()
	db, err := Open("db", vfs.NewMem(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// commitTx does what the committer does with a batch handed off.
func commitTx(t *testing.T, db *pebble.DB, tx *Tx) {
	t.Helper()
	b := db.NewBatch()
	if err := newEncoder().write(tx.handOff(), b); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	tx.visible()
}

func get[T any](t *testing.T, tx *Tx, key string) (T, bool) {
	t.Helper()
	v, found, err := Get[T](tx, []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return v, found
}

func TestTxReadsItsWrites(t *testing.T) {
	db := memDB(t)
	if err := db.Set([]byte("a"), []byte(`{"n":1}`), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	tx := newTx(db)
	if v, found := get[testRow](t, tx, "a"); !found || v.N != 1 {
		t.Fatalf("a = %+v, %v; want the database's row", v, found)
	}
	if v, found := get[testRow](t, tx, "b"); found || v != (testRow{}) {
		t.Fatalf("b = %+v, %v; want absent", v, found)
	}
	for i := range 3 { // rewritten: encoded once, as last set
		if err := Set(tx, []byte("b"), testRow{N: 2 + i, S: "<&>"}); err != nil {
			t.Fatal(err)
		}
	}
	if v, found := get[testRow](t, tx, "b"); !found || v.N != 4 {
		t.Fatalf("b = %+v, %v; want the batch's write", v, found)
	}
	if err := tx.SetRaw([]byte("r"), []byte("raw")); err != nil {
		t.Fatal(err)
	}
	if v, found, err := tx.GetRaw([]byte("r")); err != nil || !found || string(v) != "raw" {
		t.Fatalf("r = %q, %v, %v", v, found, err)
	}
	if _, _, err := Get[int64](tx, []byte("b")); !errors.Is(err, ErrRowType) {
		t.Fatalf("b as int64: %v, want ErrRowType", err)
	}
	if err := tx.SetRaw([]byte("b"), nil); !errors.Is(err, ErrRowType) {
		t.Fatalf("b set raw: %v, want ErrRowType", err)
	}
	if len(tx.cur.dirty) != 2 {
		t.Fatalf("%d rows to write, want 2 (b and r)", len(tx.cur.dirty))
	}
	commitTx(t, db, tx)
	for key, want := range map[string]string{"a": `{"n":1}`, "b": `{"n":4,"s":"\u003c\u0026\u003e"}`, "r": "raw"} {
		v, closer, err := db.Get([]byte(key))
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if string(v) != want {
			t.Errorf("%s = %s, want %s", key, v, want)
		}
		closer.Close()
	}
}

// TestTxReadsTheBatchBefore: the batch handed off is read until it is
// visible in the database; a value read from it is a copy.
func TestTxReadsTheBatchBefore(t *testing.T) {
	db := memDB(t)
	tx := newTx(db)
	if err := Set(tx, []byte("a"), testRow{N: 1}); err != nil {
		t.Fatal(err)
	}
	if err := tx.SetRaw([]byte("r"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	get[testRow](t, tx, "absent")
	handed := tx.handOff() // not in the database yet
	if v, found := get[testRow](t, tx, "a"); !found || v.N != 1 {
		t.Fatalf("a = %+v, %v; want the batch before's write", v, found)
	}
	if err := Set(tx, []byte("a"), testRow{N: 2}); err != nil {
		t.Fatal(err)
	}
	if v, found, err := tx.GetRaw([]byte("r")); err != nil || !found || string(v) != "x" {
		t.Fatalf("r = %q, %v, %v", v, found, err)
	}
	if _, found := get[testRow](t, tx, "absent"); found {
		t.Fatal("absent found")
	}
	if c := handed.rows["a"].cell.(*cell[testRow]); c.v.N != 1 {
		t.Fatalf("the batch handed off changed: %+v", c.v)
	}
	b := db.NewBatch()
	if err := newEncoder().write(handed, b); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	tx.visible()
	commitTx(t, db, tx)
	tx = newTx(db)
	if v, found := get[testRow](t, tx, "a"); !found || v.N != 2 {
		t.Fatalf("a = %+v, %v; want the last write", v, found)
	}
}

func TestTxRowErrors(t *testing.T) {
	db := memDB(t)
	if err := db.Set([]byte("bad"), []byte(`{"n":"x"}`), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	tx := newTx(db)
	if _, _, err := Get[testRow](tx, []byte("bad")); err == nil {
		t.Fatal("a row that does not decode was read")
	}
}
