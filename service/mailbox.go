package service

import (
	"hash/maphash"
	"sync"

	"github.com/hongbao/hongbao/aggregates/envelope"
)

// A job runs inside an envelope's mailbox: jobs of one envelope run one at a
// time, in the order they were submitted.
type job func(e *entry)

// task is one queued job, or one queued open: opens queued right behind one
// another run together, as one group (registry.group), so that a hot
// envelope's opens are decided in a row and appended at once.
type task struct {
	run  job
	open *openReq
}

// entry is one envelope's mailbox and its cached state.
type entry struct {
	id string

	// mu guards queue, running and the state pointer. The mailbox worker is
	// the only writer of *state and holds mu while it applies an event;
	// readers outside the mailbox (grab) hold mu while they read.
	mu      sync.Mutex
	queue   []task
	running bool
	state   *envelope.Envelope // nil: not loaded, or dropped after an unknown outcome
	// pendingOpens counts the opens queued or running, not yet answered
	// (the per-envelope admission).
	pendingOpens int
	// corrupt: the stream did not load or fold (eventstore.ErrCorrupt,
	// envelope.ErrCorrupt); answered without reloading while cached, and
	// logged once. Mailbox worker only.
	corrupt error

	// LRU links, guarded by the shard's mutex.
	prev, next *entry
}

func (e *entry) idle() bool { return !e.running && len(e.queue) == 0 }

// setState replaces the cached state (nil drops it).
func (e *entry) setState(s *envelope.Envelope) {
	e.mu.Lock()
	e.state = s
	e.mu.Unlock()
}

// read runs f on the cached state under the lock, if there is one.
func (e *entry) read(f func(*envelope.Envelope)) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.state == nil {
		return false
	}
	f(e.state)
	return true
}

const shardCount = 64

// registry maps envelope ids to entries: a bounded LRU cache of states that
// also holds every envelope with work queued. Idle entries beyond the
// capacity are evicted from the cold end; busy ones never are, so an
// envelope never has two mailboxes in one process.
type registry struct {
	seed   maphash.Seed
	shards [shardCount]shard
	// maxQueue bounds one mailbox (bounded admission).
	maxQueue int
	// group runs the opens at the head of a mailbox together, at most
	// maxGroup of them. It returns those it left for later, which go back
	// to the head of the mailbox, in order, to be grouped again with the
	// opens queued behind them meanwhile.
	group    func(e *entry, opens []*openReq) (later []*openReq)
	maxGroup int
}

type shard struct {
	mu   sync.Mutex
	m    map[string]*entry
	head entry // sentinel: head.next is the most recent, head.prev the least
	cap  int
}

func newRegistry(capacity, maxQueue int) *registry {
	r := &registry{seed: maphash.MakeSeed(), maxQueue: maxQueue}
	per := max(1, capacity/shardCount)
	for i := range r.shards {
		s := &r.shards[i]
		s.m = make(map[string]*entry)
		s.head.next, s.head.prev = &s.head, &s.head
		s.cap = per
	}
	return r
}

func (r *registry) shard(id string) *shard {
	return &r.shards[maphash.String(r.seed, id)%shardCount]
}

// lookup returns the entry of id, creating it, and marks it recently used.
// The caller holds s.mu.
func (s *shard) lookup(id string) *entry {
	e, ok := s.m[id]
	if ok {
		e.prev.next, e.next.prev = e.next, e.prev // unlink
	} else {
		e = &entry{id: id}
		s.m[id] = e
	}
	e.next, e.prev = s.head.next, &s.head // link at the front
	s.head.next.prev = e
	s.head.next = e
	s.evict()
	return e
}

// evict drops idle entries from the cold end while over capacity, looking
// at a few entries at most so that a run of busy ones costs little.
func (s *shard) evict() {
	looked := 0
	for c := s.head.prev; len(s.m) > s.cap && c != &s.head && looked < 8; looked++ {
		prev := c.prev
		c.mu.Lock()
		idle := c.idle()
		c.mu.Unlock()
		if idle {
			c.prev.next, c.next.prev = c.next, c.prev
			c.prev, c.next = nil, nil
			delete(s.m, c.id)
		}
		c = prev
	}
}

// get returns the entry of id (created if needed).
func (r *registry) get(id string) *entry {
	s := r.shard(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookup(id)
}

// submit queues j in id's mailbox and starts its worker if idle. It reports
// false, queueing nothing, when the mailbox is full.
func (r *registry) submit(id string, j job) bool {
	return r.submitTask(id, task{run: j}, false) == admitted
}

// admission is submitTask's verdict.
type admission int

const (
	admitted     admission = iota
	admitFull              // the mailbox holds maxQueue tasks
	admitSurplus           // an open, and the opens pending take every share left
)

// submitOpen queues an open in id's mailbox, as submit does. With
// surplus, an open is refused (admitSurplus) when the cached state is live
// and the opens pending in the mailbox are at least the shares left: each
// of them may still take a share, so this one would most likely find the
// envelope exhausted, yet it is not certain (a pending open may fail), so
// it is not answered exhausted.
func (r *registry) submitOpen(id string, o *openReq, surplus bool) admission {
	return r.submitTask(id, task{open: o}, surplus)
}

func (r *registry) submitTask(id string, j task, surplus bool) admission {
	s := r.shard(id)
	s.mu.Lock()
	e := s.lookup(id)
	e.mu.Lock()
	if len(e.queue) >= r.maxQueue {
		e.mu.Unlock()
		s.mu.Unlock()
		return admitFull
	}
	if o := j.open; o != nil {
		if st := e.state; surplus && st != nil && st.Status == envelope.StatusLive && e.pendingOpens >= st.Count-len(st.Opens) {
			e.mu.Unlock()
			s.mu.Unlock()
			return admitSurplus
		}
		e.pendingOpens++
		done := o.done
		o.done = func() {
			e.mu.Lock()
			e.pendingOpens--
			e.mu.Unlock()
			done()
		}
	}
	e.queue = append(e.queue, j)
	start := !e.running
	e.running = true
	e.mu.Unlock()
	s.mu.Unlock()
	if start {
		go r.drain(e)
	}
	return admitted
}

// drain runs e's jobs until its mailbox is empty.
func (r *registry) drain(e *entry) {
	for {
		e.mu.Lock()
		if len(e.queue) == 0 {
			e.running = false
			e.queue = nil
			e.mu.Unlock()
			return
		}
		j := e.pop()
		if j.open == nil {
			e.mu.Unlock()
			j.run(e)
			continue
		}
		opens := []*openReq{j.open}
		for len(e.queue) > 0 && e.queue[0].open != nil && len(opens) < r.maxGroup {
			opens = append(opens, e.pop().open)
		}
		e.mu.Unlock()
		if later := r.group(e, opens); len(later) > 0 {
			e.mu.Lock()
			q := make([]task, len(later), len(later)+len(e.queue))
			for i, o := range later {
				q[i] = task{open: o}
			}
			e.queue = append(q, e.queue...)
			e.mu.Unlock()
		}
	}
}

// pop takes the task at the head of the queue. The caller holds e.mu.
func (e *entry) pop() task {
	j := e.queue[0]
	e.queue[0] = task{}
	e.queue = e.queue[1:]
	return j
}

// len is the number of cached entries.
func (r *registry) len() int {
	n := 0
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
