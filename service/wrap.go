package service

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/oklog/ulid/v2"

	"github.com/hongbao/hongbao/aggregates/envelope"
	"github.com/hongbao/hongbao/api"
	"github.com/hongbao/hongbao/events"
	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/risk"
)

var errWrapConflict = errors.New("service: request_id already used for a different envelope")

// wrapRecord is what HONGBAO_WRAPS keeps per sender + request_id: the
// Wrapped event decided for it, so a retry after a crash between the record
// and the append writes exactly that event.
type wrapRecord struct {
	EnvelopeID string          `json:"envelope_id"`
	Wrapped    json.RawMessage `json:"wrapped"`
}

func openWraps(ctx context.Context, js jetstream.JetStream, cfg Config) (jetstream.KeyValue, error) {
	bucket := cfg.Store.Topology.WrapsBucket()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "hongbao: wrap idempotency, sender + request_id -> envelope",
		History:     1,
		TTL:         cfg.WrapTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Store.Replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: bucket %s: %w", eventstore.ErrUnavailable, bucket, err)
	}
	return kv, nil
}

// wrapKey is the KV key of a sender's request id: the sender is already
// restricted to key-safe characters; the request id is hashed.
func wrapKey(sender, requestID string) string {
	sum := sha256.Sum256([]byte(requestID))
	return sender + "." + hex.EncodeToString(sum[:20])
}

func (s *Service) handleWrap(req micro.Request) {
	r := s.replier(req)
	if s.overloaded(r) {
		return
	}
	body, err := api.DecodeWrap(req.Data())
	if err != nil {
		r.fail(err)
		return
	}
	if e := s.cfg.Risk.Check(risk.VerbWrap, body.Sender); e != nil {
		r.fail(e)
		return
	}
	done := s.take()
	r = r.later()
	go func() {
		defer done()
		ctx, cancel := s.requestContext()
		defer cancel()
		reply, err := s.wrap(ctx, body)
		if err != nil {
			r.fail(err)
			return
		}
		r.respond(reply)
	}()
}

func (s *Service) wrap(ctx context.Context, body api.WrapRequest) (api.WrapReply, error) {
	cmd := envelope.WrapCommand{RequestID: body.RequestID, Sender: body.Sender, Kind: events.Kind(body.Kind),
		Total: body.Total, Count: body.Count, Greeting: body.Greeting}
	var seed events.Seed
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails
	id := ulid.Make().String()
	ev, err := envelope.Wrap(id, cmd, seed, s.cfg.Now(), s.cfg.Limits)
	if err != nil {
		return api.WrapReply{}, err
	}
	encoded, err := events.Encode(ev)
	if err != nil {
		return api.WrapReply{}, err
	}
	rec, _ := json.Marshal(wrapRecord{EnvelopeID: id, Wrapped: encoded})
	key := wrapKey(body.Sender, body.RequestID)
	if _, err := s.wraps.Create(ctx, key, rec); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return api.WrapReply{}, fmt.Errorf("%w: wrap record: %w", eventstore.ErrUnavailable, err)
		}
		// A retry (or a concurrent twin) of an earlier wrap.
		entry, gerr := s.wraps.Get(ctx, key)
		if gerr != nil {
			return api.WrapReply{}, fmt.Errorf("%w: wrap record: %w", eventstore.ErrUnavailable, gerr)
		}
		var prev wrapRecord
		if err := json.Unmarshal(entry.Value(), &prev); err != nil {
			return api.WrapReply{}, fmt.Errorf("wrap record %s: %w", key, err)
		}
		if ev, err = events.Decode(prev.Wrapped); err != nil {
			return api.WrapReply{}, fmt.Errorf("wrap record %s: %w", key, err)
		}
		w := ev.Data.(events.Wrapped)
		if w.Kind != cmd.Kind || w.Total != cmd.Total || w.Count != cmd.Count || w.Greeting != cmd.Greeting {
			return api.WrapReply{}, fmt.Errorf("%w: %s was wrapped as %s %d/%d", errWrapConflict, prev.EnvelopeID, w.Kind, w.Total, w.Count)
		}
		id = prev.EnvelopeID
	}
	st, err := s.ensureWrapped(ctx, id, ev)
	if err != nil {
		return api.WrapReply{}, err
	}
	return api.WrapReply{EnvelopeID: id, State: st.Status.String(), Total: st.Total, Count: st.Count, Kind: string(st.Kind)}, nil
}

// ensureWrapped makes sure the envelope's Wrapped event is stored, writing
// its timer first, and returns the envelope's current state. It runs in the
// envelope's mailbox.
func (s *Service) ensureWrapped(ctx context.Context, id string, ev events.Event) (*envelope.Envelope, error) {
	type result struct {
		st  *envelope.Envelope
		err error
	}
	done := make(chan result, 1)
	if !s.submit(id, func(e *entry) {
		st, err := s.load(ctx, e)
		if errors.Is(err, eventstore.ErrNotFound) {
			st, err = s.appendWrapped(ctx, e, ev)
		}
		done <- result{st, err}
	}) {
		return nil, api.Errorf(api.CodeBusy, "envelope %s is busy", id)
	}
	r := <-done
	return r.st, r.err
}

func (s *Service) appendWrapped(ctx context.Context, e *entry, ev events.Event) (*envelope.Envelope, error) {
	if err := s.timers.Set(ctx, e.id, ev.Data.(events.Wrapped).PayBy); err != nil {
		return nil, err
	}
	seq, err := s.store.Append(ctx, 0, ev)
	if errors.Is(err, eventstore.ErrConflict) {
		return s.load(ctx, e) // a twin request wrote it first
	}
	if err != nil {
		return nil, err
	}
	st := &envelope.Envelope{ID: e.id}
	if err := st.Apply(seq, ev); err != nil {
		return nil, err
	}
	e.setState(st)
	return st, nil
}
