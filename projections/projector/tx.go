package projector

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/events"
)

// Tx is the batch of rows a projector is building: the rows written by the
// events applied since the last commit. Projections read and write rows
// only through it, with Get and Set (JSON rows) or GetRaw and SetRaw
// (rows stored as they are).
//
// A row is decoded once, when first read (or never, when first written),
// and kept decoded until the commit, which encodes every row written since
// the previous commit once, whatever the number of events that changed it,
// into the Pebble batch that also carries the checkpoint (invariant 1).
// Reads see the batch's own writes, then those of the batch before it
// (which may still be on its way into the database), then the database.
//
// A Tx belongs to its projector's applying goroutine; it is not safe for
// concurrent use. Values given to Set and SetRaw, and values returned by
// Get and GetRaw, must not be changed in place afterwards: Get returns a
// copy of the T, but what its slices, maps or pointers refer to is shared
// with the Tx.
type Tx struct {
	db    pebble.Reader
	cur   *rowSet // this batch
	prev  *rowSet // the batch before, until it is visible in db (nil: it is)
	spare *rowSet
}

// rowSet is the rows of one batch.
type rowSet struct {
	rows  map[string]*row
	dirty []*row  // the rows to write at commit
	slabs [][]row // where rows are allocated, kept for the next batches
	used  int     // slabs in use
}

// row is one key's value in a batch: decoded (cell) or raw.
type row struct {
	key   string
	cell  cellOf // nil: a raw row
	raw   []byte
	found bool // the row exists (in the database or written in the batch)
	dirty bool
}

// cellOf is a *cell[T].
type cellOf interface {
	encode(*encoder) ([]byte, error)
	clone() cellOf
}

type cell[T any] struct{ v T }

// encode encodes the value with its RowCodec or its AppendJSON, or as
// json.Marshal does (json.Encoder.Encode is json.Marshal plus a newline).
func (c *cell[T]) encode(e *encoder) ([]byte, error) {
	if a, ok := any(&c.v).(RowCodec); ok {
		e.scratch = a.AppendRow(e.scratch[:0])
		return e.scratch, nil
	}
	if a, ok := any(&c.v).(JSONAppender); ok {
		b, err := a.AppendJSON(e.scratch[:0])
		e.scratch = b
		return b, err
	}
	e.buf.Reset()
	if err := e.enc.Encode(c.v); err != nil {
		return nil, err
	}
	b := e.buf.Bytes()
	return b[:len(b)-1], nil
}

func (c *cell[T]) clone() cellOf { return &cell[T]{v: c.v} }

func newTx(db pebble.Reader) *Tx { return &Tx{db: db, cur: newRowSet()} }

func newRowSet() *rowSet { return &rowSet{rows: make(map[string]*row)} }

// ErrRowType: a row was read or written as another type than the one it
// holds in the batch (a programming error).
var ErrRowType = errors.New("projector: row used as two types in one batch")

// Get reads the row at key as a T (binary with T's RowCodec, or JSON); found is false when it is absent
// (v is then T's zero value).
func Get[T any](tx *Tx, key []byte) (v T, found bool, err error) {
	r := tx.cur.rows[string(key)]
	if r == nil {
		if r, err = tx.fetch(key, newCell[T], decodeCell[T]); err != nil {
			return v, false, err
		}
	}
	c, ok := r.cell.(*cell[T])
	if !ok {
		return v, false, fmt.Errorf("%w: %q as %T", ErrRowType, key, v)
	}
	return c.v, r.found, nil
}

func newCell[T any]() cellOf { return &cell[T]{} }

func decodeCell[T any](b []byte) (cellOf, error) {
	c := &cell[T]{}
	return c, decodeRow(b, &c.v)
}

// Set writes v as the row at key (encoded at commit, binary with T's
// RowCodec or JSON).
func Set[T any](tx *Tx, key []byte, v T) error {
	r := tx.cur.rows[string(key)]
	if r == nil {
		r = tx.cur.add(string(key))
		r.cell = &cell[T]{v: v}
	} else {
		c, ok := r.cell.(*cell[T])
		if !ok {
			return fmt.Errorf("%w: %q as %T", ErrRowType, key, v)
		}
		c.v = v
	}
	tx.cur.markDirty(r)
	return nil
}

// GetRaw reads the row at key as it is stored; found is false when it is
// absent.
func (tx *Tx) GetRaw(key []byte) (value []byte, found bool, err error) {
	r := tx.cur.rows[string(key)]
	if r == nil {
		if r, err = tx.fetch(key, nil, nil); err != nil {
			return nil, false, err
		}
	}
	if r.cell != nil {
		return nil, false, fmt.Errorf("%w: %q as raw bytes", ErrRowType, key)
	}
	return r.raw, r.found, nil
}

// SetRaw writes value as the row at key, as it is. The Tx keeps value until
// the commit.
func (tx *Tx) SetRaw(key, value []byte) error {
	r := tx.cur.rows[string(key)]
	if r == nil {
		r = tx.cur.add(string(key))
	} else if r.cell != nil {
		return fmt.Errorf("%w: %q as raw bytes", ErrRowType, key)
	}
	r.raw = value
	tx.cur.markDirty(r)
	return nil
}

// fetch adds the row at key to this batch, from the batch before or the
// database: decoded with decode, or made with zero when absent (both nil:
// a raw row).
func (tx *Tx) fetch(key []byte, zero func() cellOf, decode func([]byte) (cellOf, error)) (*row, error) {
	if tx.prev != nil {
		if p := tx.prev.rows[string(key)]; p != nil {
			r := tx.cur.add(p.key)
			r.raw, r.found = p.raw, p.found
			switch {
			case p.cell != nil:
				r.cell = p.cell.clone()
			case !p.found && zero != nil:
				r.cell = zero()
			}
			return r, nil
		}
	}
	b, closer, err := tx.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		r := tx.cur.add(string(key))
		if zero != nil {
			r.cell = zero()
		}
		return r, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: row %q: %w", errStorage, key, err)
	}
	defer closer.Close()
	var c cellOf
	var raw []byte
	if decode == nil {
		raw = bytes.Clone(b)
	} else if c, err = decode(b); err != nil {
		return nil, fmt.Errorf("%w: row %q: %w", errStorage, key, err)
	}
	r := tx.cur.add(string(key))
	r.cell, r.raw, r.found = c, raw, true
	return r, nil
}

const slabRows = 256

func (s *rowSet) add(key string) *row {
	if s.used == 0 || len(s.slabs[s.used-1]) == slabRows {
		if s.used == len(s.slabs) {
			s.slabs = append(s.slabs, make([]row, 0, slabRows))
		}
		s.used++
	}
	slab := &s.slabs[s.used-1]
	*slab = append(*slab, row{key: key})
	r := &(*slab)[len(*slab)-1]
	s.rows[key] = r
	return r
}

func (s *rowSet) markDirty(r *row) {
	r.found = true
	if !r.dirty {
		r.dirty = true
		s.dirty = append(s.dirty, r)
	}
}

// reset empties the set for reuse.
func (s *rowSet) reset() {
	clear(s.rows)
	clear(s.dirty)
	s.dirty = s.dirty[:0]
	for i := range s.used {
		clear(s.slabs[i]) // let go of the values
		s.slabs[i] = s.slabs[i][:0]
	}
	s.used = 0
}

// handOff returns this batch's rows for the commit and starts the next
// batch, which reads them until visible is called. The batch before must
// be visible already.
func (tx *Tx) handOff() *rowSet {
	done := tx.cur
	tx.prev, tx.cur, tx.spare = done, tx.spare, nil
	if tx.cur == nil {
		tx.cur = newRowSet()
	}
	return done
}

// visible notes that the batch handed off last is in the database (and
// that the commit is done with its rows).
func (tx *Tx) visible() {
	if tx.prev != nil {
		tx.prev.reset()
		tx.spare, tx.prev = tx.prev, nil
	}
}

// encoder writes the rows of batches into Pebble batches.
type encoder struct {
	buf     bytes.Buffer
	enc     *json.Encoder
	scratch []byte
	size    int // of the last batch written
}

func newEncoder() *encoder {
	e := &encoder{}
	e.enc = json.NewEncoder(&e.buf) // escapes HTML, as json.Marshal
	return e
}

// write encodes the rows written in s into b, in key order: every key is
// written once, so the order changes nothing but the cost of inserting
// them into the memtable (its skiplist inserter starts from where the
// previous key went).
func (e *encoder) write(s *rowSet, b *pebble.Batch) error {
	slices.SortFunc(s.dirty, func(a, b *row) int { return strings.Compare(a.key, b.key) })
	for _, r := range s.dirty {
		v := r.raw
		if r.cell != nil {
			var err error
			if v, err = r.cell.encode(e); err != nil {
				return fmt.Errorf("projector: row %q: %w", r.key, err)
			}
		}
		op := b.SetDeferred(len(r.key), len(v))
		copy(op.Key, r.key)
		copy(op.Value, v)
		if err := op.Finish(); err != nil {
			return err
		}
	}
	return nil
}

// EnvelopeRow returns the per-envelope row a projection keeps at key before
// applying ev: a zero T for Wrapped (which writes the row afresh, so it is
// not read), the stored row for any other event, and an error naming view
// when the envelope has none.
func EnvelopeRow[T any](tx *Tx, key []byte, ev events.Event, view string) (T, error) {
	var zero T
	if ev.Type == events.TypeWrapped {
		return zero, nil
	}
	row, found, err := Get[T](tx, key)
	if err != nil {
		return zero, err
	}
	if !found {
		return zero, fmt.Errorf("%s: %s for unknown envelope %s", view, ev.Type, ev.EnvelopeID)
	}
	return row, nil
}
