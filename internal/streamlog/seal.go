package streamlog

import (
	"context"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/hongbao/hongbao/internal/seal"
)

// links remembers each subject's last message's seal.Hash (by sequence),
// so that an append can link to it without reading it back: the
// aggregates append after what they loaded or last appended, which is
// what the log saw last. A miss reads the expected message once.
type links struct {
	mu sync.Mutex
	m  map[string]link
}

type link struct {
	seq  uint64
	hash string
}

// maxLinks bounds the cache; past it, it starts over (a miss costs one
// read of the expected message).
const maxLinks = 1 << 17

func (c *links) get(subject string, seq uint64) (string, bool) {
	c.mu.Lock()
	l, ok := c.m[subject]
	c.mu.Unlock()
	return l.hash, ok && l.seq == seq
}

func (c *links) put(subject string, seq uint64, hash string) {
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxLinks {
		c.m = make(map[string]link)
	}
	if l, ok := c.m[subject]; !ok || l.seq < seq {
		c.m[subject] = link{seq, hash}
	}
	c.mu.Unlock()
}

// SetSigner makes the log seal every message it appends (seal package:
// chain link, instance key, signature). Call it before the log is used.
func (l *Log) SetSigner(s *seal.Signer) { l.signer = s }

// Signer is the log's signer (nil: appends are not sealed).
func (l *Log) Signer() *seal.Signer { return l.signer }

// prevLink is the seal.Hash of the message at expected on subject ("" when
// expected is 0: the subject is empty).
func (l *Log) prevLink(ctx context.Context, subject string, expected uint64) (string, error) {
	if expected == 0 {
		return "", nil
	}
	if h, ok := l.links.get(subject, expected); ok {
		return h, nil
	}
	m, err := l.stream.GetMsg(ctx, expected)
	if err != nil {
		return "", fmt.Errorf("%w: reading %s at %d to link to it: %w", ErrUnavailable, subject, expected, err)
	}
	if m.Subject != subject {
		// Not the subject's last message: the append will conflict.
		return "", nil
	}
	return seal.Hash(m.Header, m.Data), nil
}

// sealMsgs seals msgs, all of subject and in order, after expected; it
// returns each one's hash.
func (l *Log) sealMsgs(ctx context.Context, subject string, expected uint64, msgs []*nats.Msg) ([]string, error) {
	prev, err := l.prevLink(ctx, subject, expected)
	if err != nil {
		return nil, err
	}
	hashes := make([]string, len(msgs))
	for i, m := range msgs {
		prev = l.signer.Seal(m, prev)
		hashes[i] = prev
	}
	return hashes, nil
}

// Verify checks a subject's messages as Load returned them (the whole
// subject, in order) against policy: each one's signature (seal.Policy.Verify)
// and its link to the one before (seal.Link). The error wraps
// seal.ErrForged and names the first message that does not verify. A nil
// policy verifies nothing.
func Verify(policy *seal.Policy, stream, subject string, msgs []Msg) error {
	if policy == nil {
		return nil
	}
	prev := ""
	for _, m := range msgs {
		if err := policy.Verify(stream, subject, m.Seq, m.Header, m.Data); err != nil {
			return err
		}
		var err error
		if prev, err = seal.Link(subject, m.Seq, m.Header, m.Data, prev); err != nil {
			return err
		}
	}
	return nil
}
