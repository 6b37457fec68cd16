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
// map bounded to max names.
type limiter struct {
	interval int64 // ns between two requests at the steady rate
	tau      int64 // ns of burst tolerance: interval * (burst-1)
	perShard int
	seed     maphash.Seed
	shards   [limiterShards]limiterShard
}

type limiterShard struct {
	mu  sync.Mutex
	tat map[string]int64 // theoretical arrival time, unix ns
}

func newLimiter(l Limit, max int) *limiter {
	if l.Off() {
		return nil
	}
	iv := int64(l.Per) / int64(l.Burst)
	lm := &limiter{interval: iv, tau: iv * int64(l.Burst-1), perShard: (max + limiterShards - 1) / limiterShards, seed: maphash.MakeSeed()}
	for i := range lm.shards {
		lm.shards[i].tat = make(map[string]int64)
	}
	return lm
}

// allow admits one request of name at now, or reports how long until it
// would be admitted.
func (l *limiter) allow(name string, now int64) (time.Duration, bool) {
	sh := &l.shards[maphash.String(l.seed, name)%limiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	tat, seen := sh.tat[name]
	if !seen || tat < now {
		tat = now
	}
	if wait := tat - l.tau - now; wait > 0 {
		return time.Duration(wait), false
	}
	if !seen && len(sh.tat) >= l.perShard {
		sh.evict(now)
	}
	sh.tat[name] = tat + l.interval
	return 0, true
}

// evict makes room in a full shard: it drops every name whose bucket has
// refilled (tat in the past: the same as never seen), and when none has,
// a few names at random (map order), which can only admit more.
func (sh *limiterShard) evict(now int64) {
	dropped := 0
	for k, t := range sh.tat {
		if t <= now {
			delete(sh.tat, k)
			dropped++
		}
	}
	for k := range sh.tat {
		if dropped >= 8 {
			break
		}
		delete(sh.tat, k)
		dropped++
	}
}

// len is the number of names tracked.
func (l *limiter) len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.tat)
		sh.mu.Unlock()
	}
	return n
}
