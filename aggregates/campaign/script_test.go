package campaign

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hongbao/hongbao/events"
)

// The campaign's rules as scripts: each line is a command, the string
// after it what it must print. The form is cockroachdb/datadriven's
// (command args… ---- output), so the tables move to testdata/ files
// verbatim once that module is in go.mod.
//
// Commands (times are offsets from t0, e.g. at=+90m):
//
//	create total= count= [per_user=] [max_share=] [starts=] ends= [at=] [slices=]
//	pay id= amount= [at=]        cancel [at=]
//	pause [at=]                  resume [at=]
//	reserve slice= batch= [at=]  shake user= [at=]
//	open user= index= [at=]      close slice= [at=]     end [at=]
//	crash slice=                 (the owner reloads the slice from its events)
//	state                        forge <event line>     (apply an event as if read from the stream)
//
// Each decided event is encoded, decoded and applied, as a store would,
// and printed as "type {data}".

var t0 = time.Date(2026, 2, 16, 20, 0, 0, 0, time.UTC) // 除夕 2026

const scriptID = "01KHCAMPA1GN000000000000AA"

type harness struct {
	t      *testing.T
	limits Limits
	c      *Campaign
	log    []events.CampaignRecord // the campaign subject
	slices map[int][]events.CampaignRecord
	state  map[int]*Slice
	seq    uint64
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, limits: DefaultLimits(), c: &Campaign{ID: scriptID},
		slices: map[int][]events.CampaignRecord{}, state: map[int]*Slice{}}
}

type args map[string]string

func parse(line string) (string, args) {
	f := strings.Fields(line)
	a := args{}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		a[k] = v
	}
	return f[0], a
}

func (a args) int(k string, def int) int {
	v, ok := a[k]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		panic(err)
	}
	return n
}

func (a args) at(k string, def time.Time) time.Time {
	v, ok := a[k]
	if !ok {
		return def
	}
	d, err := time.ParseDuration(strings.TrimPrefix(v, "+"))
	if err != nil {
		panic(err)
	}
	return t0.Add(d)
}

func errString(err error) string { return "error: " + err.Error() }

// append stores ev on its subject through the codec and applies it.
func (h *harness) append(ev events.CampaignEvent) string {
	b, err := events.EncodeCampaign(ev)
	if err != nil {
		return "encode: " + err.Error()
	}
	dec, err := events.DecodeCampaign(b)
	if err != nil {
		return "decode: " + err.Error()
	}
	h.seq++
	if k, ok := dec.Slice(); ok {
		s := h.slice(k)
		if err := s.Apply(h.seq, dec); err != nil {
			return errString(err)
		}
		h.slices[k] = append(h.slices[k], events.CampaignRecord{Seq: h.seq, Event: dec})
	} else {
		if err := h.c.Apply(h.seq, dec); err != nil {
			return errString(err)
		}
		h.log = append(h.log, events.CampaignRecord{Seq: h.seq, Event: dec})
	}
	if c, ok := dec.Data.(events.CampaignCreated); ok {
		return fmt.Sprintf("campaign_created total=%d count=%d slices=%d per_user=%d shares=[%d,%d] starts=%s ends=%s pay_by=%s",
			c.Total, c.Count, c.Slices, c.PerUser, c.MinShare, c.MaxShare, c.StartsAt.Sub(t0), c.EndsAt.Sub(t0), c.PayBy.Sub(t0))
	}
	_, data, _ := strings.Cut(string(b), `"data":`)
	return string(dec.Type) + " " + strings.TrimSuffix(data, "}")
}

func (h *harness) slice(k int) *Slice {
	if s, ok := h.state[k]; ok {
		return s
	}
	s, err := NewSlice(h.c, k)
	if err != nil {
		h.t.Fatal(err)
	}
	h.state[k] = s
	return s
}

func (h *harness) maybe(ev *events.CampaignEvent, err error) string {
	switch {
	case err != nil:
		return errString(err)
	case ev == nil:
		return "no event"
	}
	return h.append(*ev)
}

func (h *harness) run(line string) string {
	cmd, a := parse(line)
	now := a.at("at", t0)
	switch cmd {
	case "create":
		if v, ok := a["slices"]; ok {
			h.limits.Slices, _ = strconv.Atoi(v)
		}
		c := CreateCommand{RequestID: "r-1", Sponsor: "brand", Total: int64(a.int("total", 0)), Count: a.int("count", 0),
			PerUser: a.int("per_user", 0), MaxShare: int64(a.int("max_share", 0)), EndsAt: a.at("ends", time.Time{})}
		if _, ok := a["starts"]; ok {
			c.StartsAt = a.at("starts", t0)
		}
		ev, err := Create(scriptID, c, events.Seed{0x5e, 0xed}, now, h.limits)
		if err != nil {
			return errString(err)
		}
		return h.append(ev)
	case "pay":
		return h.maybe(h.c.Pay(a["id"], int64(a.int("amount", 0)), now))
	case "cancel":
		return h.maybe(h.c.Cancel(now), nil)
	case "pause":
		return h.maybe(h.c.Pause("ops-1", "risk", now))
	case "resume":
		return h.maybe(h.c.Resume("ops-1", now))
	case "reserve":
		return h.maybe(h.slice(a.int("slice", 0)).Reserve(h.c, a.int("batch", 1), now), nil)
	case "shake":
		user := a["user"]
		i, err := h.slice(HomeSlice(user, h.c.Slices)).Shake(h.c, user, now)
		if err != nil {
			return errString(err)
		}
		return fmt.Sprintf("won index=%d slice=%d", i, HomeSlice(user, h.c.Slices))
	case "shake-on":
		i, err := h.slice(a.int("slice", 0)).Shake(h.c, a["user"], now)
		if err != nil {
			return errString(err)
		}
		return fmt.Sprintf("won index=%d", i)
	case "open":
		user, index := a["user"], a.int("index", 0)
		k := a.int("slice", SliceOf(h.c.Count, h.c.Slices, index))
		amount, ev, err := h.slice(k).Open(h.c, Ticket{Index: index, User: user, KeyID: "k1", Token: "tok"}, now)
		if errors.Is(err, ErrAlreadyOpened) {
			return fmt.Sprintf("already_opened amount=%d", amount)
		}
		out := h.maybe(ev, err)
		if err == nil {
			out = fmt.Sprintf("opened amount=%d: %s", amount, out)
		}
		return out
	case "close":
		return h.maybe(h.slice(a.int("slice", 0)).Close(h.c, now), nil)
	case "end":
		var closes []events.SliceClosed
		for k := 0; k < h.c.Slices; k++ {
			if s := h.slice(k); s.Closed {
				closes = append(closes, s.Summary())
			}
		}
		return h.maybe(h.c.End(now, closes))
	case "crash":
		k := a.int("slice", 0)
		s, err := FoldSlice(h.c, k, h.slices[k])
		if err != nil {
			return errString(err)
		}
		h.state[k] = s
		return fmt.Sprintf("reloaded slice=%d reserved=[%d,%d) available=%d", k, s.Lo, s.ReservedTo, s.Available())
	case "refold":
		// An auditor's fold of every subject must agree with the live state.
		c, err := Fold(scriptID, h.log)
		if err != nil {
			return errString(err)
		}
		var out []string
		keys := make([]int, 0, len(h.slices))
		for k := range h.slices {
			keys = append(keys, k)
		}
		sort.Ints(keys)
		for _, k := range keys {
			s, err := FoldSlice(c, k, h.slices[k])
			if err != nil {
				return errString(err)
			}
			out = append(out, fmt.Sprintf("slice %d: %+v", k, s.Summary()))
		}
		return fmt.Sprintf("%s refund=%d opened=%d/%d\n%s", c.Status, c.Refund, c.OpenedCount, c.OpenedTotal, strings.Join(out, "\n"))
	case "state":
		return fmt.Sprintf("%s paused=%v slices=%d per_user=%d starts=%s ends=%s pay_by=%s",
			h.c.Status, h.c.Paused, h.c.Slices, h.c.PerUser, h.c.StartsAt.Sub(t0), h.c.EndsAt.Sub(t0), h.c.PayBy.Sub(t0))
	case "forge":
		// forge <slice|campaign> <type> field=value…: an event no decision
		// made, applied as if read from the stream.
		return h.forge(line)
	}
	h.t.Fatalf("unknown command %q", line)
	return ""
}

func (h *harness) forge(line string) string {
	cmd, a := parse(strings.TrimPrefix(line, "forge "))
	now := a.at("at", t0)
	var p events.CampaignPayload
	switch cmd {
	case "opened":
		p = events.TicketOpened{Slice: a.int("slice", 0), Index: a.int("index", 0), User: a["user"], Amount: int64(a.int("amount", 0)), KeyID: "k1", Ticket: "tok"}
	case "reserved":
		p = events.TicketsReserved{Slice: a.int("slice", 0), From: a.int("from", 0), To: a.int("to", 0)}
	case "closed":
		p = events.SliceClosed{Slice: a.int("slice", 0), Reserved: a.int("reserved", 0), OpenedCount: a.int("opened", 0), OpenedTotal: int64(a.int("total", 0))}
	case "ended":
		p = events.CampaignEnded{Refund: int64(a.int("refund", 0)), OpenedCount: a.int("opened", 0), OpenedTotal: int64(a.int("total", 0)), Reserved: a.int("reserved", 0)}
	case "paid":
		p = events.CampaignPaid{PaymentID: "p-x", Amount: int64(a.int("amount", 0))}
	default:
		h.t.Fatalf("forge %q", line)
	}
	ev := events.NewCampaign(scriptID, now, p)
	if k, ok := ev.Slice(); ok && a["on"] == "campaign" {
		_ = k
		if err := h.c.Apply(h.seq+1, ev); err != nil {
			return errString(err)
		}
		return "applied"
	}
	return h.append(ev)
}

// rewrite prints the scripts with the outputs they give now, like
// datadriven's --rewrite: review the difference before pasting it.
var rewrite = os.Getenv("HONGBAO_REWRITE") != ""

type script []struct{ in, want string }

func runScripts(t *testing.T, scripts map[string]script) {
	names := make([]string, 0, len(scripts))
	for n := range scripts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if rewrite {
				fmt.Printf("\t\t%q: {\n", name)
				for _, step := range scripts[name] {
					fmt.Printf("\t\t\t{%q,\n\t\t\t\t%q},\n", step.in, h.run(step.in))
				}
				fmt.Printf("\t\t},\n")
				return
			}
			for i, step := range scripts[name] {
				if got := h.run(step.in); got != step.want {
					t.Fatalf("step %d: %s\n got: %s\nwant: %s", i+1, step.in, got, step.want)
				}
			}
		})
	}
}
