package bench

import (
	"bufio"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Resources are the process's memory and the store's size after the setup
// (the preload and its catch-up, and the envelopes of spread, grab and hot:
// before the first measurement; rebuild tops the stream up later, right
// before it measures) and at the end of the run.
type Resources struct {
	AfterSetup *Footprint `json:"after_setup"`
	End        *Footprint `json:"end"`
}

// Footprint is the process's memory and the store's size at one moment.
type Footprint struct {
	// HeapInuseMiB is runtime.MemStats.HeapInuse right after a
	// runtime.GC, in MiB, of the whole process: with the embedded server
	// that is the nats-server, the service with its read models, and the
	// benchmark's clients together (one process, one heap). SysMiB is
	// MemStats.Sys, all the Go runtime holds from the OS.
	HeapInuseMiB float64 `json:"heap_inuse_mib"`
	SysMiB       float64 `json:"sys_mib"`
	// RSSMiB is the process's resident set (VmRSS, Linux only; null
	// elsewhere): it also counts memory outside the Go heap.
	RSSMiB *float64 `json:"rss_mib"`
	// StoreMiB is the sum of the file sizes under the embedded store
	// directory; JetStreamMiB and ProjectionsMiB are its two parts (the
	// streams and buckets, and the Pebble read models). Null with a NATS
	// URL.
	StoreMiB       *float64 `json:"store_mib"`
	JetStreamMiB   *float64 `json:"jetstream_mib"`
	ProjectionsMiB *float64 `json:"projections_mib"`
	// StreamEvents is the last sequence of ENVELOPES and LEDGER.
	StreamEvents map[string]uint64 `json:"stream_events"`
}

const mib = 1 << 20

// footprint measures the process and the store now. It never fails: what
// cannot be measured is left out.
func (r *runner) footprint(ctx context.Context) *Footprint {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	f := &Footprint{StreamEvents: map[string]uint64{}}
	for _, src := range []source{envelopesSource(), ledgerSource()} {
		if last, err := r.streamLast(ctx, src.stream); err == nil {
			f.StreamEvents[src.stream] = last
		}
	}
	if d := r.env.dir; d != "" {
		size := func(dir string) *float64 {
			v := float64(dirSize(dir)) / mib
			return &v
		}
		f.StoreMiB = size(d)
		f.JetStreamMiB = size(filepath.Join(d, "jetstream"))
		f.ProjectionsMiB = size(filepath.Join(d, "data", "projections"))
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	f.HeapInuseMiB = float64(m.HeapInuse) / mib
	f.SysMiB = float64(m.Sys) / mib
	if kb, ok := rssKiB(); ok {
		v := float64(kb) / 1024
		f.RSSMiB = &v
	}
	return f
}

// dirSize sums the sizes of the regular files under dir. Files that vanish
// meanwhile (compactions, rebuilds) are skipped.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished or unreadable: leave it out, go on
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// rssKiB reads VmRSS from /proc/self/status (Linux).
func rssKiB() (int64, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			v, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}
