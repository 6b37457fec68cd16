package risk

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkRiskCheck is the cost risk control adds to an open: the
// blocklist lookup alone (limits off), and with the per-user limit, over
// 100,000 users.
func BenchmarkRiskCheck(b *testing.B) {
	users := make([]string, 100_000)
	for i := range users {
		users[i] = "user" + strconv.Itoa(i)
	}
	blocked := map[string]Entry{"mallory": {Name: "mallory"}}
	for _, c := range []struct {
		name string
		lim  Limit
	}{{"blocklist", NoLimit}, {"blocklist+limit", DefaultOpenLimit}} {
		b.Run(c.name, func(b *testing.B) {
			g := &Guard{cfg: Config{Now: time.Now}}
			g.blocked.Store(&blocked)
			g.limiters[VerbOpen] = newLimiter(c.lim, defaultMaxTracked)
			i := 0
			for b.Loop() {
				if e := g.Check(VerbOpen, users[i%len(users)]); e != nil {
					b.Fatal(e)
				}
				i++
			}
		})
	}
}
