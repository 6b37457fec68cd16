package projector

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/events"
)

// Kinds of parked events (ParkedEvent.Kind), as reconcile reports them.
const (
	// KindMalformed: the message does not decode as an event (or entry)
	// of this stream.
	KindMalformed = "malformed_event"
	// KindRejected: the message decodes but the projection's fold refuses
	// it (an event for an unknown envelope, an impossible transition).
	KindRejected = "rejected_event"
	// KindForged: the message's chain link or signature does not verify.
	KindForged = "forged_event"
)

// ErrMalformed marks an error of a raw projection's ApplyMsg as "the
// message does not decode": the projector parks it as KindMalformed
// rather than KindRejected.
var ErrMalformed = errors.New("projector: malformed message")

// ErrForged marks an error of an apply as "the message does not verify"
// (KindForged).
var ErrForged = errors.New("projector: forged message")

// errStorage: reading a row failed (I/O or a row the database cannot
// decode): the database is at fault, not the event, so the projector stops
// instead of parking the event.
var errStorage = errors.New("projector: storage")

// ParkedPrefix starts the keys of parked events: "\x00parked/" and the
// stream sequence, 8 bytes big-endian. It sorts before every projection
// key, after CheckpointKey's and FormatKey's neighbours.
var ParkedPrefix = []byte("\x00parked/")

// ParkedEvent is an event a projector did not apply: it is recorded in the
// projection's database, in the same batch as the checkpoint that passes
// it (so it is parked exactly once), and the projector goes on with the
// next event.
type ParkedEvent struct {
	Subject string `json:"subject"`
	Seq     uint64 `json:"seq"`
	Kind    string `json:"kind"`
	Reason  string `json:"reason"`
}

func parkedKey(seq uint64) []byte {
	k := make([]byte, len(ParkedPrefix)+8)
	copy(k, ParkedPrefix)
	binary.BigEndian.PutUint64(k[len(ParkedPrefix):], seq)
	return k
}

// kindOf classifies why an event could not be applied.
func kindOf(err error) string {
	switch {
	case errors.Is(err, ErrForged):
		return KindForged
	case errors.Is(err, ErrMalformed), errors.Is(err, events.ErrMalformed), errors.Is(err, events.ErrUnknownType):
		return KindMalformed
	default:
		return KindRejected
	}
}

// parkable reports whether an apply error is the event's fault (park it
// and go on) rather than the database's or the code's (stop).
func parkable(err error) bool {
	return !errors.Is(err, errStorage) && !errors.Is(err, ErrRowType)
}

// Parked lists the events parked in a projection's database, in stream
// order.
func Parked(r pebble.Reader) ([]ParkedEvent, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: ParkedPrefix, UpperBound: PrefixEnd(ParkedPrefix)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []ParkedEvent
	for it.First(); it.Valid(); it.Next() {
		var p ParkedEvent
		if err := json.Unmarshal(it.Value(), &p); err != nil {
			return nil, fmt.Errorf("projector: parked event %x: %w", it.Key(), err)
		}
		out = append(out, p)
	}
	return out, it.Error()
}

func countParked(r pebble.Reader) (int64, error) {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: ParkedPrefix, UpperBound: PrefixEnd(ParkedPrefix)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	var n int64
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, it.Error()
}

// park records the event at it as parked, in the batch tx holds.
func (p *Projector) park(tx *Tx, it *item) error {
	pe := ParkedEvent{Subject: it.subject, Seq: it.seq, Kind: kindOf(it.err), Reason: it.err.Error()}
	b, err := json.Marshal(pe)
	if err != nil {
		return err
	}
	p.cfg.Logger.Error("projection parked an event it cannot apply; going on with the next",
		"projection", p.Name(), "subject", pe.Subject, "seq", pe.Seq, "kind", pe.Kind, "err", it.err)
	return tx.SetRaw(parkedKey(it.seq), b)
}

// ParkedCount is how many events the projection has parked (durably or in
// a batch being made durable).
func (p *Projector) ParkedCount() int64 { return p.parked.Load() }
