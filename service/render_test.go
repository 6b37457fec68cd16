package service

import (
	"testing"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/api"
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
