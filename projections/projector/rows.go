package projector

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/cockroachdb/pebble/v2"
)

// GetRow reads the row at key into v (binary with v's RowCodec, or JSON);
// found is false when absent.
func GetRow(r pebble.Reader, key []byte, v any) (found bool, err error) {
	b, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if err := decodeRow(b, v); err != nil {
		return false, fmt.Errorf("projector: row %q: %w", key, err)
	}
	return true, nil
}

// IterRow decodes the row under the iterator into v, as GetRow does.
func IterRow(it *pebble.Iterator, v any) error {
	b, err := it.ValueAndErr()
	if err != nil {
		return err
	}
	if err := decodeRow(b, v); err != nil {
		return fmt.Errorf("projector: row %q: %w", it.Key(), err)
	}
	return nil
}

// decodeRow decodes b into v with v's RowCodec, or as JSON.
func decodeRow(b []byte, v any) error {
	if c, ok := v.(RowCodec); ok {
		return c.DecodeRow(b)
	}
	return json.Unmarshal(b, v)
}

// Key joins parts into a key: strings as they are, uint64 and uint16 big
// endian so that they sort numerically.
func Key(parts ...any) []byte {
	n := 0
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			n += len(v)
		case []byte:
			n += len(v)
		case uint64:
			n += 8
		case uint32:
			n += 4
		case uint16:
			n += 2
		default:
			panic(fmt.Sprintf("projector.Key: %T", p)) // programming error, not input
		}
	}
	k := make([]byte, 0, n)
	for _, p := range parts {
		switch v := p.(type) {
		case string:
			k = append(k, v...)
		case []byte:
			k = append(k, v...)
		case uint64:
			k = binary.BigEndian.AppendUint64(k, v)
		case uint32:
			k = binary.BigEndian.AppendUint32(k, v)
		case uint16:
			k = binary.BigEndian.AppendUint16(k, v)
		}
	}
	return k
}

// PrefixEnd is the first key after every key with the prefix.
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// PageNewestFirst visits up to limit rows whose keys are prefix followed by
// the complement of a stream sequence (so a forward scan is newest first),
// starting after the cursor (the sequence of the last row of the previous
// page; "" for the first page). It returns the next page's cursor, "" at the
// end. Rows written while a client pages have larger sequences, sort before
// the first page, and never shift later pages.
func PageNewestFirst(r pebble.Reader, prefix []byte, cursor string, limit int, visit func(*pebble.Iterator) error) (string, error) {
	lower := prefix
	if cursor != "" {
		seq, err := strconv.ParseUint(cursor, 10, 64)
		if err != nil || seq == 0 {
			return "", ErrBadCursor
		}
		lower = Key(prefix, ^(seq - 1)) // ^(seq-1) is the first key after ^seq
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: PrefixEnd(prefix)})
	if err != nil {
		return "", err
	}
	defer it.Close()
	n := 0
	var last uint64
	for ok := it.First(); ok; ok = it.Next() {
		if n == limit {
			return strconv.FormatUint(last, 10), it.Error()
		}
		if err := visit(it); err != nil {
			return "", err
		}
		k := it.Key()
		if len(k) < 8 {
			return "", fmt.Errorf("projector: row %q has no sequence", k)
		}
		last = ^binary.BigEndian.Uint64(k[len(k)-8:])
		n++
	}
	return "", it.Error()
}

// ErrBadCursor: a cursor this service did not give.
var ErrBadCursor = errors.New("projector: cursor is not one this service gave")
