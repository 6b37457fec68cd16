package seal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Keys of the keys bucket.
const (
	keyPrefix  = "key."
	fromPrefix = "signed-from."
)

// Registration is what an instance records of its key.
type Registration struct {
	Key          string    `json:"key"`
	Instance     string    `json:"instance,omitempty"`
	RegisteredAt time.Time `json:"registered_at"`
}

// Register records signer's public key in the keys bucket (creating it)
// and, for each stream that has no signed-from marker yet, marks the
// stream's next sequence as the first that must be signed. Call it before
// the instance's first append. Every instance of a deployment should sign
// from then on: an unsigned append after the marker is reported as forged.
func Register(ctx context.Context, js jetstream.JetStream, bucket string, replicas int, signer *Signer, instance string, streams []string) error {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucket, Replicas: max(1, replicas),
		Description: "hongbao: instances' public keys and where signing began (operators read, the service writes)",
		Storage:     jetstream.FileStorage})
	if err != nil {
		return fmt.Errorf("seal: keys bucket %s: %w", bucket, err)
	}
	b, err := json.Marshal(Registration{Key: signer.PublicKey(), Instance: instance, RegisteredAt: time.Now().UTC()})
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, keyPrefix+signer.PublicKey(), b); err != nil {
		return fmt.Errorf("seal: registering %s: %w", signer.PublicKey(), err)
	}
	for _, name := range streams {
		if _, err := kv.Get(ctx, fromPrefix+name); err == nil {
			continue
		} else if !errors.Is(err, jetstream.ErrKeyNotFound) {
			return err
		}
		st, err := js.Stream(ctx, name)
		if err != nil {
			return fmt.Errorf("seal: stream %s: %w", name, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return fmt.Errorf("seal: stream %s: %w", name, err)
		}
		_, err = kv.Create(ctx, fromPrefix+name, []byte(strconv.FormatUint(info.State.LastSeq+1, 10)))
		if err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("seal: marking %s: %w", name, err)
		}
	}
	return nil
}

// Trusted reads the keys bucket: the registered instance keys and the
// streams' signed-from markers. A missing bucket: none (nothing was ever
// signed).
func Trusted(ctx context.Context, js jetstream.JetStream, bucket string) ([]Registration, map[string]uint64, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("seal: keys bucket %s: %w", bucket, err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, nil, err
	}
	var regs []Registration
	from := map[string]uint64{}
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if err != nil {
			return nil, nil, err
		}
		switch {
		case strings.HasPrefix(k, keyPrefix):
			var r Registration
			if err := json.Unmarshal(e.Value(), &r); err != nil {
				return nil, nil, fmt.Errorf("seal: %s: %w", k, err)
			}
			r.Key = strings.TrimPrefix(k, keyPrefix)
			regs = append(regs, r)
		case strings.HasPrefix(k, fromPrefix):
			seq, err := strconv.ParseUint(string(e.Value()), 10, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("seal: %s: %w", k, err)
			}
			from[strings.TrimPrefix(k, fromPrefix)] = seq
		}
	}
	return regs, from, nil
}

// LoadPolicy is the policy of the keys bucket, reloaded when an unknown key
// is met (at most once a second). nil when the bucket does not exist.
func LoadPolicy(ctx context.Context, js jetstream.JetStream, bucket string) (*Policy, error) {
	regs, from, err := Trusted(ctx, js, bucket)
	if err != nil || (regs == nil && from == nil) {
		return nil, err
	}
	var mu sync.Mutex
	var last time.Time
	refresh := func() ([]string, map[string]uint64, error) {
		mu.Lock()
		defer mu.Unlock()
		if time.Since(last) < time.Second {
			return nil, nil, errors.New("seal: refreshed recently")
		}
		last = time.Now()
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		regs, from, err := Trusted(rctx, js, bucket)
		return keysOf(regs), from, err
	}
	return NewPolicy(keysOf(regs), from, refresh), nil
}

func keysOf(regs []Registration) []string {
	out := make([]string, len(regs))
	for i, r := range regs {
		out[i] = r.Key
	}
	return out
}
