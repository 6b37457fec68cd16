package campaign

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/hongbao/hongbao/events"
)

// TestSimulation runs random campaigns end to end through the harness:
// shakes from many users with reservations on demand, owners crashing,
// opens retried, then the end. It checks C1–C5 from outside: no ticket
// handed to two users, no user over per_user opens, and the refund is
// exactly the amounts of the tickets not opened, re-derived from the seed.
func TestSimulation(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	var crashes, opensTotal, reservations int
	defer func() {
		t.Logf("%d crashes, %d opens, %d reservations", crashes, opensTotal, reservations)
		if crashes == 0 || opensTotal < 1000 || reservations < 1000 {
			t.Errorf("the simulation exercised too little")
		}
	}()
	for round := 0; round < 40; round++ {
		h := newHarness(t)
		count := 1 + r.IntN(400)
		slices := 1 + r.IntN(min(count, 8))
		perUser := 1 + r.IntN(3)
		total := int64(count) + r.Int64N(int64(count)*499)
		h.limits.Slices = slices
		ev, err := Create(scriptID, CreateCommand{RequestID: "r", Sponsor: "brand", Total: total, Count: count,
			PerUser: perUser, MaxShare: 500, EndsAt: t0.Add(time.Hour)}, seedOf(r), t0, h.limits)
		if err != nil {
			t.Fatal(err)
		}
		h.append(ev)
		h.maybe(h.c.Pay("p", total, t0))
		holder := map[int]string{} // ticket → the user it was handed to
		won := []int{}
		users := 1 + r.IntN(count+20)
		for step := 0; step < 3*count; step++ {
			now := t0.Add(time.Duration(step) * time.Millisecond)
			user := fmt.Sprintf("u%d", r.IntN(users))
			k := HomeSlice(user, h.c.Slices)
			switch x := r.IntN(20); {
			case x == 0:
				h.run(fmt.Sprintf("crash slice=%d", k))
				crashes++
			case x < 6 && len(won) > 0:
				i := won[r.IntN(len(won))]
				s := h.slice(SliceOf(count, h.c.Slices, i))
				amount, ev, err := s.Open(h.c, Ticket{Index: i, User: holder[i], KeyID: "k", Token: "t"}, now)
				switch {
				case err == nil:
					if out := h.append(*ev); out[:13] != "ticket_opened" {
						t.Fatal(out)
					}
					opensTotal++
				case errors.Is(err, ErrAlreadyOpened), errors.Is(err, ErrLimit):
				default:
					t.Fatal(err)
				}
				if amount != 0 && amount != h.c.Split().Amount(i) {
					t.Fatalf("ticket %d opened for %d", i, amount)
				}
			default:
				s := h.slice(k)
				i, err := s.Shake(h.c, user, now)
				if errors.Is(err, ErrNeedReservation) {
					if out := h.maybe(s.Reserve(h.c, 1+r.IntN(5), now), nil); out[:16] != "tickets_reserved" {
						t.Fatal(out)
					}
					reservations++
					i, err = s.Shake(h.c, user, now)
				}
				switch {
				case err == nil:
					if prev, dup := holder[i]; dup {
						t.Fatalf("ticket %d handed to %s and %s (C4)", i, prev, user)
					}
					holder[i] = user
					won = append(won, i)
				case errors.Is(err, ErrLimit), errors.Is(err, ErrSoldOut):
				default:
					t.Fatal(err)
				}
			}
		}
		end := t0.Add(time.Hour)
		var closes []events.SliceClosed
		opens := map[string]int{}
		var opened int64
		openedSet := map[int]bool{}
		for k := 0; k < h.c.Slices; k++ {
			h.maybe(h.slice(k).Close(h.c, end), nil)
			closes = append(closes, h.slice(k).Summary())
			for _, rec := range h.slices[k] {
				if o, ok := rec.Event.Data.(events.TicketOpened); ok {
					opens[o.User]++
					opened += o.Amount
					openedSet[o.Index] = true
				}
			}
		}
		if out := h.maybe(h.c.End(end, closes)); out[:14] != "campaign_ended" {
			t.Fatal(out)
		}
		var folded []*Slice
		for k := 0; k < h.c.Slices; k++ {
			s, err := FoldSlice(h.c, k, h.slices[k])
			if err != nil {
				t.Fatal(err)
			}
			folded = append(folded, s)
		}
		if err := CheckEnded(h.c, folded); err != nil {
			t.Fatal(err)
		}
		if err := CheckEnded(h.c, folded[1:]); err == nil {
			t.Fatal("CheckEnded accepted a missing slice")
		}
		for u, n := range opens {
			if n > perUser {
				t.Fatalf("%s opened %d tickets, per_user %d (C5)", u, n, perUser)
			}
		}
		var unopened int64
		for i := 0; i < count; i++ {
			if !openedSet[i] {
				unopened += h.c.Split().Amount(i)
			}
		}
		if h.c.Refund != unopened || h.c.OpenedTotal != opened || opened+h.c.Refund != total {
			t.Fatalf("refund %d, unopened %d, opened %d/%d, total %d (C1)", h.c.Refund, unopened, h.c.OpenedTotal, opened, total)
		}
	}
}

func TestMatches(t *testing.T) {
	l := DefaultLimits()
	cmd := CreateCommand{RequestID: "r-1", Sponsor: "brand", Total: 1000, Count: 10, EndsAt: t0.Add(time.Hour)}
	ev, err := Create(scriptID, cmd, events.Seed{}, t0, l)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Fold(scriptID, []events.CampaignRecord{{Seq: 1, Event: ev}})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Matches(cmd, l) {
		t.Fatal("the same request does not match")
	}
	withDefaults := cmd
	withDefaults.PerUser, withDefaults.MaxShare, withDefaults.StartsAt = 1, 20000, t0
	if !c.Matches(withDefaults, l) {
		t.Fatal("the request with its defaults spelled out does not match")
	}
	for name, f := range map[string]func(*CreateCommand){
		"total":     func(c *CreateCommand) { c.Total++ },
		"count":     func(c *CreateCommand) { c.Count++ },
		"per_user":  func(c *CreateCommand) { c.PerUser = 2 },
		"max_share": func(c *CreateCommand) { c.MaxShare = 100 },
		"ends_at":   func(c *CreateCommand) { c.EndsAt = c.EndsAt.Add(time.Second) },
		"starts_at": func(c *CreateCommand) { c.StartsAt = t0.Add(time.Minute) },
	} {
		other := cmd
		f(&other)
		if c.Matches(other, l) {
			t.Errorf("a request with another %s matches", name)
		}
	}
}

// TestMemoryIndependentOfCount: a ten-million-ticket campaign's slice holds
// one bit per reserved ticket and entries per opener, nothing per ticket
// of the campaign.
func TestMemoryIndependentOfCount(t *testing.T) {
	h := newHarness(t)
	h.run("create total=100000000000 count=10000000 ends=+1h slices=16")
	h.run("pay id=p amount=100000000000")
	s := h.slice(0)
	if out := h.maybe(s.Reserve(h.c, 1000, t0), nil); out[:16] != "tickets_reserved" {
		t.Fatal(out)
	}
	users := 0
	for i := 0; users < 10; i++ {
		user := fmt.Sprintf("u%d", i)
		if HomeSlice(user, 16) != 0 {
			continue
		}
		users++
		idx, err := s.Shake(h.c, user, t0)
		if err != nil {
			t.Fatal(err)
		}
		if _, ev, err := s.Open(h.c, Ticket{Index: idx, User: user, KeyID: "k", Token: "t"}, t0); err != nil {
			t.Fatal(err)
		} else {
			h.append(*ev)
		}
	}
	if len(s.opened) != (1000+63)/64 || len(s.userOpens) != 10 || len(s.wins) != 10 {
		t.Fatalf("bitmap %d words, %d openers, %d winners", len(s.opened), len(s.userOpens), len(s.wins))
	}
}
