package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/projections/detail"
	"github.com/hongbao/hongbao/projections/projector"
)

// TestStateNames: replies write the aggregate's status names, which must
// be the contract's states.
func TestStateNames(t *testing.T) {
	for s, want := range map[envelope.Status]string{
		envelope.StatusWrapped:   api.StateWrapped,
		envelope.StatusLive:      api.StateLive,
		envelope.StatusFinished:  api.StateFinished,
		envelope.StatusExpired:   api.StateExpired,
		envelope.StatusCancelled: api.StateCancelled,
	} {
		if s.String() != want {
			t.Errorf("%d renders as %q, want %q", s, s.String(), want)
		}
	}
}

// TestGetReplyFromAggregate pins the bytes of a get reply rendered from an
// aggregate, and its paging: the detail view renders through the same
// getReply.
func TestGetReplyFromAggregate(t *testing.T) {
	const id = "01JQ0000000000000000000000"
	t0 := time.Date(2026, 2, 10, 20, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	st := &envelope.Envelope{ID: id}
	apply := func(ev *events.Event, err error) {
		t.Helper()
		if err != nil || ev == nil {
			t.Fatalf("%v %v", ev, err)
		}
		if err := st.Apply(st.LastSeq+1, *ev); err != nil {
			t.Fatal(err)
		}
	}
	w, err := envelope.Wrap(id, envelope.WrapCommand{RequestID: "r", Sender: "alice", Kind: events.KindEqual, Total: 300, Count: 3, Greeting: "恭喜"},
		events.Seed{}, t0, envelope.DefaultLimits())
	apply(&w, err)
	apply(st.Pay("p-1", 300, t0.Add(time.Second)))
	for i, user := range []string{"bob", "cat", "dan"} {
		_, ev, err := st.Open(user, t0.Add(time.Duration(i+2)*time.Second))
		apply(ev, err)
	}
	for _, c := range []struct {
		cursor string
		limit  int
		want   string
	}{
		{"", 2, `{"envelope":{"envelope_id":"01JQ0000000000000000000000","sender":"alice","kind":"equal","total":300,"count":3,"state":"finished","opened_count":3,"opened_total":300,"refunded":0,"greeting":"恭喜","created_at":"2026-02-10T12:00:00.123Z","expires_at":"2026-02-11T12:00:01.123Z"},"opens":[{"user":"bob","amount":100,"index":1,"at":"2026-02-10T12:00:02.123Z","best_luck":true},{"user":"cat","amount":100,"index":2,"at":"2026-02-10T12:00:03.123Z","best_luck":false}],"next":"3"}`},
		{"3", 2, `{"envelope":{"envelope_id":"01JQ0000000000000000000000","sender":"alice","kind":"equal","total":300,"count":3,"state":"finished","opened_count":3,"opened_total":300,"refunded":0,"greeting":"恭喜","created_at":"2026-02-10T12:00:00.123Z","expires_at":"2026-02-11T12:00:01.123Z"},"opens":[{"user":"dan","amount":100,"index":3,"at":"2026-02-10T12:00:04.123Z","best_luck":false}],"next":""}`},
		{"9", 2, `{"envelope":{"envelope_id":"01JQ0000000000000000000000","sender":"alice","kind":"equal","total":300,"count":3,"state":"finished","opened_count":3,"opened_total":300,"refunded":0,"greeting":"恭喜","created_at":"2026-02-10T12:00:00.123Z","expires_at":"2026-02-11T12:00:01.123Z"},"opens":[],"next":""}`},
	} {
		from, err := detail.ParseCursor(c.cursor)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(getReply(detail.FromAggregate(st, from, c.limit)))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("cursor %q limit %d:\n got %s\nwant %s", c.cursor, c.limit, b, c.want)
		}
	}
	for _, bad := range []string{"0", "-1", "x", "1.5"} {
		if _, err := detail.ParseCursor(bad); !errors.Is(err, projector.ErrBadCursor) {
			t.Errorf("cursor %q: %v", bad, err)
		}
		if e := toAPIError(fmt.Errorf("get: %w", projector.ErrBadCursor)); e.Status != 400 || e.Code != api.CodeBadRequest {
			t.Errorf("a bad cursor answers %d %s", e.Status, e.Code)
		}
	}
}
