package risk

import (
	"fmt"
	"hash/maphash"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limit admits at most Burst requests per Per for one name, refilling
// evenly (one request every Per/Burst). The zero Limit admits everything.
type Limit struct {
	Burst int
	Per   time.Duration
}

// Off reports whether l admits everything.
func (l Limit) Off() bool { return l.Burst <= 0 || l.Per <= 0 }

// String is l as ParseLimit reads it: "20/1s", or "off".
func (l Limit) String() string {
	if l.Off() {
		return "off"
	}
	return strconv.Itoa(l.Burst) + "/" + l.Per.String()
}

// ParseLimit reads a limit written "<burst>/<duration>" ("20/1s",
// "100/1m"); "off" and "0" are NoLimit.
func ParseLimit(s string) (Limit, error) {
	if s == "off" || s == "0" {
		return NoLimit, nil
	}
	n, d, ok := strings.Cut(s, "/")
	if !ok {
		return Limit{}, fmt.Errorf("risk: limit %q: want <count>/<duration>, e.g. 20/1s, or off", s)
	}
	burst, err := strconv.Atoi(n)
	if err != nil || burst < 0 {
		return Limit{}, fmt.Errorf("risk: limit %q: count: want a whole number", s)
	}
	per, err := time.ParseDuration(d)
	if err != nil || per <= 0 {
		return Limit{}, fmt.Errorf("risk: limit %q: duration: want e.g. 1s or 1m", s)
	}
	return Limit{Burst: burst, Per: per}, nil
}

const limiterShards = 64

// limiter applies one Limit to many names: a GCRA per name, in a sharded
// map bounded to max names. Each shard keeps two generations: names go to
// cur; when cur is full, it becomes old and the previous old is dropped
// whole (forgetting a name can only admit more). A name found in old moves
// to cur. So a shard holds at most 2 × perShard names, with no per-name
// eviction work and no deletions (which leave tombstones that slow a map).
type limiter struct {
	interval int64 // ns between two requests at the steady rate
	tau      int64 // ns of burst tolerance: interval * (burst-1)
	perShard int   // names per generation of a shard
	seed     maphash.Seed
	shards   [limiterShards]limiterShard
}

type limiterShard struct {
	mu       sync.Mutex
	cur, old map[string]int64 // theoretical arrival time, unix ns
}

func newLimiter(l Limit, maxNames int) *limiter {
	if l.Off() {
		return nil
	}
	iv := int64(l.Per) / int64(l.Burst)
	lm := &limiter{interval: iv, tau: iv * int64(l.Burst-1), perShard: max(1, maxNames/(2*limiterShards)), seed: maphash.MakeSeed()}
	for i := range lm.shards {
		lm.shards[i].cur = make(map[string]int64)
	}
	return lm
}

// allow admits one request of name at now, or reports how long until it
// would be admitted.
func (l *limiter) allow(name string, now int64) (time.Duration, bool) {
	sh := &l.shards[maphash.String(l.seed, name)%limiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tat, seen := sh.cur[name]
	if !seen {
		tat, seen = sh.old[name] // moves to cur below, if admitted
	}
	if !seen || tat < now {
		tat = now
	}
	if wait := tat - l.tau - now; wait > 0 {
		return time.Duration(wait), false
	}
	if _, inCur := sh.cur[name]; !inCur && len(sh.cur) >= l.perShard {
		sh.old, sh.cur = sh.cur, make(map[string]int64, l.perShard)
	}
	sh.cur[name] = tat + l.interval
	return 0, true
}

// len is the number of names tracked.
func (l *limiter) len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.cur) + len(sh.old)
		sh.mu.Unlock()
	}
	return n
}
