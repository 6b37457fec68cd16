package service

import (
	"fmt"
	"sync"
	"testing"
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
