package streamlog

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// ErrBatchUnsupported: the stream does not allow atomic batches
// (allow_atomic is off, as on a stream created before it was set); nothing
// was written. Append the messages one by one instead.
var ErrBatchUnsupported = errors.New("streamlog: atomic batches not allowed on this stream")

// MaxBatch is the most messages AppendBatch takes at once (JetStream's own
// limit is 1,000 per atomic batch).
const MaxBatch = 256

// JetStream's atomic batch headers and error codes.
const (
	hdrBatchID     = "Nats-Batch-Id"
	hdrBatchSeq    = "Nats-Batch-Sequence"
	hdrBatchCommit = "Nats-Batch-Commit"

	errCodeAtomicDisabled   = 10174
	errCodeBatchIncomplete  = 10176
	errCodeBatchDuplicateID = 10201
)

// AppendBatch writes datas to subject as one JetStream atomic batch if the
// subject's last stream sequence is still expected: all of them, one after
// another with nothing between, or none. It returns the sequence of the
// last; the others precede it one by one (first = last − len(datas) + 1).
// Only the first message carries the expected sequence (JetStream refuses
// it on later messages of the same subject; the batch's atomicity keeps
// other writers out in between). Errors are Append's, plus
// ErrBatchUnsupported. Every message has a Msg-Id unique to this call, so a
// retry after a lost acknowledgement is resolved as Append resolves one.
//
// One batch costs one round trip and, with sync_interval: always, one
// fsync for all its messages (nats-server coalesces a batch's syncs), where
// appending them one by one costs one of each per message.
func (l *Log) AppendBatch(ctx context.Context, subject string, expected uint64, datas [][]byte) (uint64, error) {
	switch {
	case len(datas) == 0:
		return 0, fmt.Errorf("streamlog: empty batch for %s", subject)
	case len(datas) > MaxBatch:
		return 0, fmt.Errorf("streamlog: batch of %d for %s, at most %d", len(datas), subject, MaxBatch)
	case len(datas) == 1:
		return l.Append(ctx, subject, expected, datas[0])
	}
	base := subject + "." + nuid.Next() + "."
	msgs := make([]*nats.Msg, len(datas))
	for i, data := range datas {
		msgs[i] = batchMsg(subject, data, base+strconv.Itoa(i+1), i+1)
	}
	msgs[0].Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expected, 10))
	var hashes []string
	if l.signer != nil {
		var err error
		if hashes, err = l.sealMsgs(ctx, subject, expected, msgs); err != nil {
			return 0, err
		}
	}

	ack, outcome, err := l.sendBatch(ctx, msgs)
	switch outcome {
	case batchStored:
		if hashes != nil {
			l.links.put(subject, ack.Sequence, hashes[len(hashes)-1])
		}
		return ack.Sequence, nil
	case batchUnsupported:
		return 0, err
	case batchRefused:
		return 0, fmt.Errorf("%w: %s after seq %d", ErrConflict, subject, expected)
	case batchMaybeEarlier:
		seq, err := l.resolveBatch(ctx, subject, expected, msgs)
		if err == nil && hashes != nil {
			l.links.put(subject, seq, hashes[len(hashes)-1])
		}
		return seq, err
	}
	return 0, err
}

// batchMsg is message seq (1-based) of an atomic batch, with its Msg-Id.
func batchMsg(subject string, data []byte, msgID string, seq int) *nats.Msg {
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, msgID)
	h.Set(hdrBatchSeq, strconv.Itoa(seq))
	return &nats.Msg{Subject: subject, Data: data, Header: h}
}

// batchOutcome is what sendBatch learned of a batch.
type batchOutcome int

const (
	batchStored       batchOutcome = iota // acknowledged: every message stored
	batchUnsupported                      // the stream refuses atomic batches; nothing written
	batchRefused                          // an expected sequence failed on the first attempt; nothing written
	batchMaybeEarlier                     // a retry met its own Msg-Ids or a moved sequence: an earlier attempt may have landed
	batchFailed                           // not stored, or unknown: err says which (ErrUnavailable)
)

// sendBatch sends msgs as one atomic batch (it marks the last as the
// commit), retrying what may be retried under a fresh batch id with the same
// Msg-Ids until ctx ends, and says how it ended.
func (l *Log) sendBatch(ctx context.Context, msgs []*nats.Msg) (*jetstream.PubAck, batchOutcome, error) {
	msgs[len(msgs)-1].Header.Set(hdrBatchCommit, "1")
	subject := msgs[0].Subject
	backoff := 10 * time.Millisecond
	for attempt := 1; ; attempt++ {
		// A fresh batch id per attempt: a retried batch is a new batch whose
		// messages JetStream recognises by their Msg-Ids.
		id := nuid.Next()
		for _, m := range msgs {
			m.Header.Set(hdrBatchID, id)
		}
		ack, err := l.publishBatch(ctx, msgs)
		switch {
		case err == nil:
			return ack, batchStored, nil
		case hasCode(err, errCodeAtomicDisabled):
			return nil, batchUnsupported, fmt.Errorf("%w: %s: %w", ErrBatchUnsupported, l.stream.CachedInfo().Config.Name, err)
		case IsWrongLastSequence(err) && attempt == 1:
			return nil, batchRefused, err
		case IsWrongLastSequence(err), hasCode(err, errCodeBatchDuplicateID):
			return nil, batchMaybeEarlier, err
		case !retryable(err) && !hasCode(err, errCodeBatchIncomplete):
			return nil, batchFailed, fmt.Errorf("%w: append batch of %d (%s…): %w", ErrUnavailable, len(msgs), subject, err)
		}
		l.logger.Warn("streamlog: batch attempt failed, retrying", "size", len(msgs), "subject", subject, "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return nil, batchFailed, fmt.Errorf("%w: append batch of %d (%s…): outcome unknown after %d attempts: %w", ErrUnavailable, len(msgs), subject, attempt, err)
		case <-time.After(jitter(backoff)):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// publishBatch sends the batch's messages without waiting and its commit
// (the last) through l.publish, which waits for the batch's ack.
func (l *Log) publishBatch(ctx context.Context, msgs []*nats.Msg) (*jetstream.PubAck, error) {
	for _, m := range msgs[:len(msgs)-1] {
		if err := l.conn.PublishMsg(m); err != nil {
			return nil, err
		}
	}
	actx, cancel := context.WithTimeout(ctx, l.attemptTimeout)
	defer cancel()
	return l.publish(actx, msgs[len(msgs)-1])
}

// resolveBatch finds out whether the batch msgs is the subject's first
// messages after expected: its first and last message must be there, with
// their Msg-Ids, as many sequences apart as the batch is long.
func (l *Log) resolveBatch(ctx context.Context, subject string, expected uint64, msgs []*nats.Msg) (uint64, error) {
	first, err := l.stream.GetMsg(ctx, expected+1, jetstream.WithGetMsgSubject(subject))
	if err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, fmt.Errorf("%w: resolving %s after seq %d: %w", ErrUnavailable, subject, expected, err)
	}
	if err != nil || first.Header.Get(jetstream.MsgIDHeader) != msgs[0].Header.Get(jetstream.MsgIDHeader) {
		return 0, fmt.Errorf("%w: %s after seq %d", ErrConflict, subject, expected)
	}
	lastSeq := first.Sequence + uint64(len(msgs)) - 1
	last, err := l.stream.GetMsg(ctx, lastSeq)
	if err != nil {
		return 0, fmt.Errorf("%w: resolving batch %s at %d: %w", ErrUnavailable, subject, lastSeq, err)
	}
	if last.Subject != subject || last.Header.Get(jetstream.MsgIDHeader) != msgs[len(msgs)-1].Header.Get(jetstream.MsgIDHeader) {
		// Atomic batches are stored contiguously; anything else is a
		// store this package does not understand.
		return 0, fmt.Errorf("%w: batch %s after seq %d is not contiguous", ErrUnavailable, subject, expected)
	}
	return lastSeq, nil
}

// hasCode reports a JetStream API error with the code.
func hasCode(err error, code jetstream.ErrorCode) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == code
}
