package risk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"github.com/hongbao/hongbao/api"
)

// Verb is a rate-limited request kind.
type Verb int

// The limited verbs: wrap is limited per sender, open and shake per user.
const (
	VerbWrap Verb = iota
	VerbOpen
	VerbShake
	verbs
)

func (v Verb) String() string { return [...]string{"wrap", "open", "shake"}[v] }

// Config of the risk controls of an instance. The zero value of each field
// means its default.
type Config struct {
	Bucket   string // the blocklist bucket, topology.RiskBucket(); required
	Replicas int    // of the bucket; default 1
	// Per-name limits. The zero Limit means the default; NoLimit turns a
	// verb's limit off (ParseLimit("off") returns NoLimit).
	WrapLimit  Limit // per sender; default 100/1s
	OpenLimit  Limit // per user; default 100/1s
	ShakeLimit Limit // per user; default 20/1s
	// MaxTracked bounds the names each verb's limiter remembers; default
	// 100,000 (a few MB).
	MaxTracked int
	Now        func() time.Time // default time.Now
	Logger     *slog.Logger
}

// NoLimit turns a verb's limit off in Config (the zero Limit is the default).
var NoLimit = Limit{Burst: -1}

// Default limits.
var (
	DefaultWrapLimit  = Limit{Burst: 100, Per: time.Second}
	DefaultOpenLimit  = Limit{Burst: 100, Per: time.Second}
	DefaultShakeLimit = Limit{Burst: 20, Per: time.Second}
)

const defaultMaxTracked = 100_000

func (c *Config) defaults() error {
	if c.Bucket == "" {
		return errors.New("risk: Config.Bucket is required (topology.RiskBucket())")
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	for _, l := range []struct {
		p *Limit
		d Limit
	}{{&c.WrapLimit, DefaultWrapLimit}, {&c.OpenLimit, DefaultOpenLimit}, {&c.ShakeLimit, DefaultShakeLimit}} {
		if *l.p == (Limit{}) {
			*l.p = l.d
		}
	}
	if c.MaxTracked == 0 {
		c.MaxTracked = defaultMaxTracked
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Entry is one blocked name.
type Entry struct {
	Name   string `json:"name"`
	Reason string `json:"reason,omitempty"`
	At     string `json:"at"` // RFC 3339, when it was blocked
}

// Guard is one instance's risk controls: the blocklist it watches and its
// rate limiters.
type Guard struct {
	cfg      Config
	kv       jetstream.KeyValue
	blocked  atomic.Pointer[map[string]Entry] // immutable; replaced whole
	limiters [verbs]*limiter

	seenMu   sync.Mutex
	seenCond *sync.Cond
	seenRev  uint64 // the bucket's last revision the watch applied

	cancel  context.CancelFunc
	stopped chan struct{}
}

// Open creates the bucket if missing, loads the blocklist and starts
// watching it; Stop ends the watch.
func Open(ctx context.Context, js jetstream.JetStream, cfg Config) (*Guard, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      cfg.Bucket,
		Description: "hongbao: risk control, blocked users and senders",
		History:     1,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("risk: bucket %s: %w", cfg.Bucket, err)
	}
	g := &Guard{cfg: cfg, kv: kv, stopped: make(chan struct{})}
	g.seenCond = sync.NewCond(&g.seenMu)
	empty := map[string]Entry{}
	g.blocked.Store(&empty)
	for v, l := range []Limit{cfg.WrapLimit, cfg.OpenLimit, cfg.ShakeLimit} {
		g.limiters[v] = newLimiter(l, cfg.MaxTracked)
	}
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("risk: watch %s: %w", cfg.Bucket, err)
	}
	// The initial values, up to the nil marker, then serve.
	initial := map[string]Entry{}
	var rev uint64
	for loaded := false; !loaded; {
		select {
		case u, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("risk: watch %s ended", cfg.Bucket)
			}
			if u == nil {
				loaded = true
				break
			}
			applyUpdate(initial, u, cfg.Logger)
			rev = u.Revision()
		case <-ctx.Done():
			_ = w.Stop()
			return nil, fmt.Errorf("risk: loading %s: %w", cfg.Bucket, ctx.Err())
		}
	}
	g.blocked.Store(&initial)
	g.seen(rev)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.cancel = cancel
	go g.watch(wctx, w)
	return g, nil
}

func applyUpdate(m map[string]Entry, u jetstream.KeyValueEntry, log *slog.Logger) {
	if u.Operation() != jetstream.KeyValuePut {
		delete(m, u.Key())
		return
	}
	var e Entry
	if err := json.Unmarshal(u.Value(), &e); err != nil {
		log.Warn("risk: unreadable blocklist entry, blocking the name anyway", "key", u.Key(), "err", err)
	}
	e.Name = u.Key()
	m[u.Key()] = e
}

// watch applies the bucket's changes until ctx ends, watching again if
// the watch ends on its own.
func (g *Guard) watch(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(g.stopped)
	for {
		for ctx.Err() == nil {
			var u jetstream.KeyValueEntry
			var ok bool
			select {
			case u, ok = <-w.Updates():
			case <-ctx.Done():
			}
			if ctx.Err() != nil || !ok {
				break
			}
			if u == nil {
				continue // a new watch's initial marker
			}
			old := *g.blocked.Load()
			m := make(map[string]Entry, len(old)+1)
			for k, v := range old {
				m[k] = v
			}
			applyUpdate(m, u, g.cfg.Logger)
			g.blocked.Store(&m)
			g.seen(u.Revision())
		}
		_ = w.Stop()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		var err error
		// Watching again delivers every key again: the map is rebuilt
		// entry by entry, which converges on the bucket's content (a key
		// deleted meanwhile arrives as a delete marker only while the
		// bucket keeps it; History 1 keeps it).
		if w, err = g.kv.WatchAll(ctx, jetstream.IncludeHistory()); err != nil {
			g.cfg.Logger.Warn("risk: watching the blocklist again failed, retrying", "err", err)
			w = nil
		}
		if w == nil {
			continue
		}
	}
}

func (g *Guard) seen(rev uint64) {
	g.seenMu.Lock()
	if rev > g.seenRev {
		g.seenRev = rev
	}
	g.seenMu.Unlock()
	g.seenCond.Broadcast()
}

// waitSeen waits until the watch applied revision rev, or ctx ends.
func (g *Guard) waitSeen(ctx context.Context, rev uint64) error {
	stop := context.AfterFunc(ctx, func() {
		g.seenMu.Lock()
		g.seenCond.Broadcast()
		g.seenMu.Unlock()
	})
	defer stop()
	g.seenMu.Lock()
	defer g.seenMu.Unlock()
	for g.seenRev < rev {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		g.seenCond.Wait()
	}
	return nil
}

// Stop ends the watch.
func (g *Guard) Stop() {
	if g.cancel != nil {
		g.cancel()
		<-g.stopped
		g.cancel = nil
	}
}

// Blocked reports whether name is blocked: one atomic load and one map
// lookup.
func (g *Guard) Blocked(name string) bool {
	_, ok := (*g.blocked.Load())[name]
	return ok
}

// Check admits one request of verb by name: 403 forbidden when name is
// blocked, 429 rate_limited (with retry_after_ms) over its limit, nil when
// admitted. A nil Guard admits everything.
func (g *Guard) Check(v Verb, name string) *api.Error {
	if g == nil {
		return nil
	}
	if g.Blocked(name) {
		return api.Errorf(api.CodeForbidden, "%s is blocked by risk control", name)
	}
	l := g.limiters[v]
	if l == nil {
		return nil
	}
	if wait, ok := l.allow(name, g.cfg.Now().UnixNano()); !ok {
		return api.RateLimited(wait, "%s: too many %s requests; retry later", name, v)
	}
	return nil
}

// List is the blocklist as this instance knows it, sorted by name.
func (g *Guard) List() []Entry {
	m := *g.blocked.Load()
	out := make([]Entry, 0, len(m))
	for _, e := range m {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Tracked is how many names each verb's limiter remembers now.
func (g *Guard) Tracked() map[string]int {
	out := map[string]int{}
	for v, l := range g.limiters {
		if l != nil {
			out[Verb(v).String()] = l.len()
		}
	}
	return out
}

// block writes name to the bucket and waits until this instance's watch
// has it.
func (g *Guard) block(ctx context.Context, name, reason string) (Entry, error) {
	e := Entry{Name: name, Reason: reason, At: g.cfg.Now().UTC().Format(time.RFC3339)}
	b, err := json.Marshal(e)
	if err != nil {
		return Entry{}, err
	}
	rev, err := g.kv.Put(ctx, name, b)
	if err != nil {
		return Entry{}, err
	}
	return e, g.waitSeen(ctx, rev)
}

func (g *Guard) unblock(ctx context.Context, name string) error {
	if !g.Blocked(name) {
		return nil
	}
	if err := g.kv.Delete(ctx, name); err != nil {
		return err
	}
	// The delete marker's revision: the bucket's last.
	st, err := g.kv.Status(ctx)
	if err != nil {
		return err
	}
	if kvs, ok := st.(interface{ StreamInfo() *jetstream.StreamInfo }); ok {
		return g.waitSeen(ctx, kvs.StreamInfo().State.LastSeq)
	}
	return nil
}

// Admin requests and replies (<prefix>.admin.risk.<verb>).
type (
	// Request names one user or sender; Reason is kept with a block.
	Request struct {
		Name   string `json:"name"`
		Reason string `json:"reason,omitempty"`
	}
	// Reply answers block, unblock and list.
	Reply struct {
		Blocked []Entry `json:"blocked"` // block: the entry; unblock: empty; list: the matches
	}
)

// Subject is the admin subject of verb (block, unblock, list).
func Subject(prefix, verb string) string { return prefix + ".admin.risk." + verb }

// Register adds the admin endpoints admin-risk-block, -unblock and -list
// on <prefix>.admin.risk.<verb> to g (the group of the prefix), in the
// service's queue group: any one instance answers.
func (g *Guard) Register(grp micro.Group, timeout time.Duration) error {
	for _, verb := range []string{"block", "unblock", "list"} {
		if err := grp.AddEndpoint("admin-risk-"+verb, g.handle(verb, timeout), micro.WithEndpointSubject("admin.risk."+verb)); err != nil {
			return fmt.Errorf("risk: endpoint %s: %w", verb, err)
		}
	}
	return nil
}

func (g *Guard) handle(verb string, timeout time.Duration) micro.HandlerFunc {
	return func(req micro.Request) {
		fail := func(e *api.Error) { _ = req.Error(strconv.Itoa(e.Status), e.Message, e.Body()) }
		var body Request
		dec := json.NewDecoder(bytes.NewReader(req.Data()))
		dec.DisallowUnknownFields()
		if len(req.Data()) > 0 {
			if err := dec.Decode(&body); err != nil {
				fail(api.Errorf(api.CodeBadRequest, "body: %v", err))
				return
			}
		}
		if verb != "list" || body.Name != "" {
			if !api.ValidUser(body.Name) {
				fail(api.Errorf(api.CodeBadRequest, "name must be 1 to %d characters of [A-Za-z0-9_-]", api.MaxUserLen))
				return
			}
		}
		if len(body.Reason) > 200 {
			fail(api.Errorf(api.CodeBadRequest, "reason: at most 200 bytes"))
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		var reply Reply
		switch verb {
		case "block":
			e, err := g.block(ctx, body.Name, body.Reason)
			if err != nil {
				fail(api.Errorf(api.CodeUnavailable, "blocklist not written: %v", err))
				return
			}
			reply.Blocked = []Entry{e}
		case "unblock":
			if err := g.unblock(ctx, body.Name); err != nil {
				fail(api.Errorf(api.CodeUnavailable, "blocklist not written: %v", err))
				return
			}
			reply.Blocked = []Entry{}
		case "list":
			reply.Blocked = []Entry{}
			for _, e := range g.List() {
				if body.Name == "" || e.Name == body.Name {
					reply.Blocked = append(reply.Blocked, e)
				}
			}
		}
		_ = req.RespondJSON(reply)
	}
}

// Block asks the service (any instance) to block name; reason is kept
// with it. It is what `hongbao risk block <name>` calls.
func Block(ctx context.Context, nc *nats.Conn, prefix, name, reason string) (Entry, error) {
	var r Reply
	if err := call(ctx, nc, Subject(prefix, "block"), Request{Name: name, Reason: reason}, &r); err != nil {
		return Entry{}, err
	}
	if len(r.Blocked) != 1 {
		return Entry{}, fmt.Errorf("risk: block: unexpected reply %+v", r)
	}
	return r.Blocked[0], nil
}

// Unblock asks the service to unblock name (`hongbao risk unblock <name>`).
func Unblock(ctx context.Context, nc *nats.Conn, prefix, name string) error {
	return call(ctx, nc, Subject(prefix, "unblock"), Request{Name: name}, &Reply{})
}

// List asks the service for the blocklist, or for name's entry alone when
// name is not empty (`hongbao risk list [<name>]`).
func List(ctx context.Context, nc *nats.Conn, prefix, name string) ([]Entry, error) {
	var r Reply
	if err := call(ctx, nc, Subject(prefix, "list"), Request{Name: name}, &r); err != nil {
		return nil, err
	}
	return r.Blocked, nil
}

func call(ctx context.Context, nc *nats.Conn, subject string, req, reply any) error {
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	m, err := nc.RequestWithContext(ctx, subject, b)
	if err != nil {
		return fmt.Errorf("risk: %s: %w", subject, err)
	}
	if code := m.Header.Get(micro.ErrorCodeHeader); code != "" {
		return fmt.Errorf("risk: %s: %s %s", subject, code, m.Header.Get(micro.ErrorHeader))
	}
	if err := json.Unmarshal(m.Data, reply); err != nil {
		return fmt.Errorf("risk: %s: reply: %w", subject, err)
	}
	return nil
}
