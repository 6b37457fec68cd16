package projector

import (
	"fmt"
	"log/slog"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Open opens (creating) a Pebble database at dir on fs (nil: the OS).
func Open(dir string, fs vfs.FS, log *slog.Logger) (*pebble.DB, error) {
	return open(dir, fs, log, false)
}

// bulkMemTable is the memtable size of a bulk load: large enough that a
// rebuild flushes rarely (memtables grow to it from 256 KiB; 16 MiB measured
// best against 4, 8 and 64 in BenchmarkRebuild).
const bulkMemTable = 16 << 20

// viewCacheSize is a view's block cache. With pebble's default of 8 MiB the
// rows a projection reads back (an envelope's, a sender's totals) missed the
// cache once the view outgrew it, and reading and decoding blocks took a
// fifth of the whole instance's CPU: spread at JetStream's default sync
// interval, 100,000 opens, ran at 7,800-9,100 opens/s with it and at
// 10,300-13,800 with 64 MiB (bloom filters added nothing).
const viewCacheSize = 64 << 20

// OpenBulk opens (creating) a Pebble database at dir for a bulk load, a
// rebuild into a fresh generation: no write-ahead log and a large
// memtable. A projector over it needs Config.Bulk. Nothing it applies is
// durable until Seal; a crash before leaves a database to throw away, which
// is what a rebuild does with a generation it did not swap in.
func OpenBulk(dir string, fs vfs.FS, log *slog.Logger) (*pebble.DB, error) {
	return open(dir, fs, log, true)
}

func open(dir string, fs vfs.FS, log *slog.Logger, bulk bool) (*pebble.DB, error) {
	opts := &pebble.Options{Logger: pebbleLogger{log}, FormatMajorVersion: pebble.FormatNewest}
	opts.CacheSize = viewCacheSize
	if bulk {
		opts.DisableWAL, opts.MemTableSize = true, bulkMemTable
	}
	if fs != nil {
		opts.FS = fs
	}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("projector: open %s: %w", dir, err)
	}
	return db, nil
}

// Seal makes everything applied to a database opened by OpenBulk durable
// (its memtables are flushed to synced tables) and closes it. Reopen it with
// Open to go on.
func Seal(db *pebble.DB) error {
	if err := db.Flush(); err != nil {
		_ = db.Close()
		return fmt.Errorf("projector: seal: %w", err)
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("projector: seal: %w", err)
	}
	return nil
}

type pebbleLogger struct{ log *slog.Logger }

func (l pebbleLogger) Infof(format string, args ...any) {
	if l.log != nil {
		l.log.Debug(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (l pebbleLogger) Errorf(format string, args ...any) {
	if l.log != nil {
		l.log.Error(fmt.Sprintf(format, args...), "component", "pebble")
	}
}

func (l pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if l.log != nil {
		l.log.Error(msg, "component", "pebble")
	}
	panic("pebble: fatal: " + msg) // pebble requires Fatalf not to return
}
