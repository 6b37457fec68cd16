package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hongbao/hongbao/internal/natstest"
)

const env = "01JQ0000000000000000000000"

var at = time.Date(2026, 2, 10, 20, 0, 0, 0, time.UTC)

func fund(amount int64) Transfer {
	return Transfer{ID: "fund:" + env, Kind: KindFund, EnvelopeID: env, Debit: AccountExternal, Credit: EscrowAccount(env), Amount: amount, At: at}
}

func open(i int, user string, amount int64) Transfer {
	return Transfer{ID: fmt.Sprintf("open:%s:%d", env, i), Kind: KindOpen, EnvelopeID: env, Debit: EscrowAccount(env), Credit: WalletAccount(user), Amount: amount, At: at}
}

func start(t *testing.T, cfg Config) (*Ledger, *natstest.Server) {
	t.Helper()
	srv := natstest.Start(t)
	l, err := Open(context.Background(), srv.JetStream(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l, srv
}

func entries(t *testing.T, l *Ledger) []Entry {
	t.Helper()
	_, es, _, err := l.Escrow(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestTransfers(t *testing.T) {
	l, _ := start(t, Config{})
	ctx := context.Background()

	if _, err := l.Transfer(ctx, open(1, "bob", 10)); !errors.Is(err, ErrInsufficient) {
		t.Fatalf("open before fund: %v", err)
	}
	r, err := l.Transfer(ctx, fund(100))
	if err != nil || r.Duplicate || r.EscrowBalance != 100 {
		t.Fatalf("fund: %+v %v", r, err)
	}
	r, err = l.Transfer(ctx, open(1, "bob", 60))
	if err != nil || r.EscrowBalance != 40 {
		t.Fatalf("open: %+v %v", r, err)
	}
	again, err := l.Transfer(ctx, open(1, "bob", 60))
	if err != nil || !again.Duplicate || again.Seq != r.Seq || again.EscrowBalance != 40 {
		t.Fatalf("repeat: %+v %v (first %+v)", again, err, r)
	}
	if _, err := l.Transfer(ctx, open(1, "bob", 61)); !errors.Is(err, ErrMismatch) {
		t.Fatalf("same id, other amount: %v", err)
	}
	if _, err := l.Transfer(ctx, open(2, "carol", 41)); !errors.Is(err, ErrInsufficient) {
		t.Fatalf("overdraw: %v", err)
	}
	bad := []Transfer{
		{ID: "x", Kind: KindOpen, EnvelopeID: env, Debit: AccountExternal, Credit: WalletAccount("bob"), Amount: 1},
		{ID: "x", Kind: KindOpen, EnvelopeID: env, Debit: EscrowAccount(env), Credit: EscrowAccount(env), Amount: 1},
		{ID: "x", Kind: KindOpen, EnvelopeID: env, Debit: EscrowAccount(env), Credit: WalletAccount("bob"), Amount: 0},
		{ID: "x", Kind: KindFund, EnvelopeID: env, Debit: EscrowAccount("01JQ0000000000000000000001"), Credit: EscrowAccount(env), Amount: 1},
		{Kind: KindOpen, EnvelopeID: env, Debit: EscrowAccount(env), Credit: WalletAccount("bob"), Amount: 1},
		{ID: "x", Kind: KindFund, EnvelopeID: env, Debit: EscrowAccount(env), Credit: WalletAccount("bob"), Amount: 1},
		{ID: "x", Kind: KindRefund, EnvelopeID: env, Debit: EscrowAccount(env), Credit: AccountExternal, Amount: 1},
		{ID: "x", Kind: "bonus", EnvelopeID: env, Debit: EscrowAccount(env), Credit: WalletAccount("bob"), Amount: 1},
	}
	for _, b := range bad {
		if _, err := l.Transfer(ctx, b); !errors.Is(err, ErrInvalid) {
			t.Fatalf("invalid transfer %+v: %v", b, err)
		}
	}
	es := entries(t, l)
	if len(es) != 2 || es[0].EscrowBalance != 100 || es[1].EscrowBalance != 40 {
		t.Fatalf("entries after refusals: %+v", es)
	}
}

// TestIdempotentAfterDuplicateWindow: a transfer re-sent after JetStream's
// duplicate window has passed, by a ledger with a cold cache, is still
// booked once.
func TestIdempotentAfterDuplicateWindow(t *testing.T) {
	window := 200 * time.Millisecond
	l, srv := start(t, Config{Duplicates: window})
	ctx := context.Background()
	first, err := l.Transfer(ctx, fund(100))
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	natstest.Eventually(t, 5*time.Second, func() error {
		if time.Since(sent) < 3*window {
			return errors.New("the duplicate window has not passed")
		}
		return nil
	})
	cold, err := Open(ctx, srv.JetStream(t), Config{Duplicates: window})
	if err != nil {
		t.Fatal(err)
	}
	r, err := cold.Transfer(ctx, fund(100))
	if err != nil || !r.Duplicate || r.Seq != first.Seq {
		t.Fatalf("re-sent after the window: %+v %v", r, err)
	}
	if n := len(entries(t, cold)); n != 1 {
		t.Fatalf("%d entries after a re-send", n)
	}
}

// TestTwoWritersOneEscrow: two ledgers (two instances, separate caches)
// book opens on one escrow at once: never below zero, every id once.
func TestTwoWritersOneEscrow(t *testing.T) {
	a, srv := start(t, Config{})
	b, err := Open(context.Background(), srv.JetStream(t), Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := a.Transfer(ctx, fund(500)); err != nil {
		t.Fatal(err)
	}
	// 60 opens of 10 against 500: 50 fit. Each id is sent by both writers.
	var booked, refused atomic.Int32
	var wg sync.WaitGroup
	for i := 1; i <= 60; i++ {
		for _, l := range []*Ledger{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := l.Transfer(ctx, open(i, fmt.Sprintf("u%d", i), 10))
				switch {
				case err == nil && !r.Duplicate:
					booked.Add(1)
				case err == nil:
				case errors.Is(err, ErrInsufficient):
					refused.Add(1)
				default:
					t.Errorf("open %d: %v", i, err)
				}
			}()
		}
	}
	wg.Wait()
	es := entries(t, a)
	seen := map[string]bool{}
	var balance int64
	for _, e := range es {
		if seen[e.ID] {
			t.Fatalf("%s booked twice", e.ID)
		}
		seen[e.ID] = true
		balance += e.delta()
		if balance < 0 || balance != e.EscrowBalance {
			t.Fatalf("escrow %d after %s, entry says %d", balance, e.ID, e.EscrowBalance)
		}
	}
	if booked.Load() != 50 || len(es) != 51 || balance != 0 {
		t.Fatalf("booked %d (refused %d), %d entries, escrow %d", booked.Load(), refused.Load(), len(es), balance)
	}
}
