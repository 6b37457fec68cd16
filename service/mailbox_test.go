package service

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hongbao/hongbao/internal/natstest"
)

// TestRegistryBounded: idle entries beyond the capacity are evicted, busy
// ones never are, and each id has one entry at a time.
func TestRegistryBounded(t *testing.T) {
	r := newRegistry(shardCount*2, 10) // two entries per shard
	for i := 0; i < 1000; i++ {
		r.get(fmt.Sprintf("id-%d", i))
	}
	if n := r.len(); n > shardCount*2 {
		t.Fatalf("%d entries cached, capacity %d", n, shardCount*2)
	}

	// A busy entry survives any amount of churn.
	release := make(chan struct{})
	started := make(chan struct{})
	busy := r.get("busy")
	if !r.submit("busy", func(*entry) { close(started); <-release }) {
		t.Fatal("submit refused")
	}
	<-started
	for i := 0; i < 1000; i++ {
		r.get(fmt.Sprintf("churn-%d", i))
	}
	if got := r.get("busy"); got != busy {
		t.Fatal("a busy entry was evicted and replaced")
	}
	close(release)
}

// TestMailboxOrder: jobs of one id run one at a time in submission order;
// a full mailbox refuses.
func TestMailboxOrder(t *testing.T) {
	r := newRegistry(1024, 1000)
	var mu sync.Mutex
	var got []int
	running := 0
	var wg sync.WaitGroup
	for i := 0; i < 500; i++ {
		wg.Add(1)
		if !r.submit("x", func(*entry) {
			defer wg.Done()
			mu.Lock()
			running++
			if running != 1 {
				t.Errorf("%d jobs running at once", running)
			}
			got = append(got, i)
			running--
			mu.Unlock()
		}) {
			t.Fatal("submit refused")
		}
	}
	wg.Wait()
	for i, v := range got {
		if v != i {
			t.Fatalf("job %d ran at position %d", v, i)
		}
	}

	block := make(chan struct{})
	small := newRegistry(64, 2)
	small.submit("y", func(*entry) { <-block }) // running
	small.submit("y", func(*entry) {})          // queued
	small.submit("y", func(*entry) {})          // queued: full
	if small.submit("y", func(*entry) {}) {
		t.Fatal("a full mailbox took another job")
	}
	close(block)
}

// TestMailboxRegroups: opens a group leaves for later go back to the head of
// the mailbox, ahead of jobs queued behind them, and come again with the
// opens that arrived meanwhile; each runs exactly once, in order.
func TestMailboxRegroups(t *testing.T) {
	r := newRegistry(64, 1000)
	r.maxGroup = 8
	var ran []string // the mailbox's own record: one worker at a time
	var groups []int
	entered, release := make(chan struct{}), make(chan struct{})
	first := true
	r.group = func(e *entry, opens []*openReq) []*openReq {
		if first {
			first = false
			close(entered)
			<-release // the rest arrive while the first group runs
		}
		groups = append(groups, len(opens))
		ran = append(ran, opens[0].user) // the first runs, the rest wait
		return opens[1:]
	}
	open := func(user string) {
		if r.submitOpen("x", &openReq{user: user, done: func() {}}, false) != admitted {
			t.Fatal("submit refused")
		}
	}
	open("o0")
	<-entered
	// While o0 runs: three opens, a job, then one more open.
	open("o1")
	open("o2")
	open("o3")
	done := make(chan struct{})
	if !r.submit("x", func(*entry) { ran = append(ran, "job"); close(done) }) {
		t.Fatal("submit refused")
	}
	open("o4")
	close(release)
	<-done
	e := r.get("x")
	natstest.Eventually(t, 5*time.Second, func() error {
		e.mu.Lock()
		defer e.mu.Unlock()
		if e.running {
			return errors.New("still running")
		}
		return nil
	})
	want := []string{"o0", "o1", "o2", "o3", "job", "o4"}
	if !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
	// The first group took what was queued by then, the next ones what
	// was left of it: the later opens were grouped with the earlier.
	if !slices.Equal(groups, []int{1, 3, 2, 1, 1}) {
		t.Fatalf("group sizes %v", groups)
	}
}
