package projector

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
)

// FormatKey holds the format version of a database's rows (decimal). A
// database without it and with a checkpoint was written before formats were
// recorded, in format 1.
var FormatKey = []byte("\x00format")

// Versioned is a projection whose rows have a format version: a new version
// means its rows must be rebuilt from the stream. A projection that does
// not implement it is at format 1.
type Versioned interface{ Format() int }

// FormatOf is the format version of proj's rows.
func FormatOf(proj RawProjection) int {
	var p any = proj
	if ep, ok := proj.(eventsProjection); ok {
		p = ep.Projection
	}
	if v, ok := p.(Versioned); ok {
		return v.Format()
	}
	return 1
}

// StoredFormat is the format version a database's rows are in: 0 for an
// empty database, 1 for one written before formats were recorded.
func StoredFormat(r pebble.Reader) (int, error) {
	f, _, err := storedFormat(r)
	return f, err
}

// storedFormat is StoredFormat, and whether the database records it.
func storedFormat(r pebble.Reader) (format int, marked bool, err error) {
	v, closer, err := r.Get(FormatKey)
	if errors.Is(err, pebble.ErrNotFound) {
		cp, err := Checkpoint(r)
		if err != nil || cp == 0 {
			return 0, false, err
		}
		return 1, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("projector: format: %w", err)
	}
	defer closer.Close()
	f, err := strconv.Atoi(string(v))
	if err != nil || f < 1 {
		return 0, false, fmt.Errorf("projector: format %q", v)
	}
	return f, true, nil
}

// stamp checks that db holds proj's format and records it: an empty
// database takes proj's format, an unmarked one of format 1 is marked.
// ErrFormat: the rows are in another format, and need a rebuild.
func stamp(db *pebble.DB, proj RawProjection, bulk bool) error {
	have, marked, err := storedFormat(db)
	if err != nil {
		return err
	}
	want := FormatOf(proj)
	switch {
	case have != 0 && have != want:
		return fmt.Errorf("%w: %s is in format %d, this build writes %d", ErrFormat, proj.Name(), have, want)
	case marked:
		return nil
	}
	opt := pebble.Sync
	if bulk {
		opt = pebble.NoSync // no WAL: Seal makes it durable with the rest
	}
	if err := db.Set(FormatKey, strconv.AppendInt(nil, int64(want), 10), opt); err != nil {
		return fmt.Errorf("projector: recording the format: %w", err)
	}
	return nil
}
