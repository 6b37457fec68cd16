package projector

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// GetJSON reads the JSON row at key into v; found is false when absent.
func GetJSON(r pebble.Reader, key []byte, v any) (found bool, err error) {
	b, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("projector: row %q: %w", key, err)
	}
	return true, nil
}

// IterJSON decodes the JSON row under the iterator.
func IterJSON(it *pebble.Iterator, v any) error {
	b, err := it.ValueAndErr()
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("projector: row %q: %w", it.Key(), err)
	}
	return nil
}

// SetJSON writes v as JSON at key.
func SetJSON(b *pebble.Batch, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Set(key, data, nil)
}

// Key joins parts into a key: strings as they are, uint64 and uint16 big
// endian so that they sort numerically.
func Key(parts ...any) []byte {
	var k []byte
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
		default:
			panic(fmt.Sprintf("projector.Key: %T", p)) // programming error, not input
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
