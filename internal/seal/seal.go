package seal

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// Header names.
const (
	HdrPrev = "Hongbao-Prev"
	HdrKey  = "Hongbao-Key"
	HdrSig  = "Hongbao-Sig"
)

// ErrForged: a message does not verify (unsigned where a signature is
// required, an untrusted key, a bad signature, or a broken chain link).
var ErrForged = errors.New("seal: forged message")

// Signer signs an instance's appends.
type Signer struct {
	pub  string
	priv ed25519.PrivateKey
}

// NewSigner makes a signer from an nkey seed (any key type).
func NewSigner(seed []byte) (*Signer, error) {
	_, raw, err := nkeys.DecodeSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("seal: seed: %w", err)
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		return nil, fmt.Errorf("seal: seed: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, err
	}
	return &Signer{pub: pub, priv: ed25519.NewKeyFromSeed(raw)}, nil
}

// Generate makes a signer with a fresh key (tests).
func Generate() (*Signer, []byte, error) {
	kp, err := nkeys.CreateServer()
	if err != nil {
		return nil, nil, err
	}
	seed, err := kp.Seed()
	if err != nil {
		return nil, nil, err
	}
	s, err := NewSigner(seed)
	return s, seed, err
}

// KeyFile is where LoadOrCreate keeps the instance's seed, under the data
// directory.
const KeyFile = "instance.nk"

// LoadOrCreate reads the instance's seed from dir/instance.nk, creating it
// (mode 0600, dir 0700) when missing.
func LoadOrCreate(dir string) (*Signer, error) {
	path := filepath.Join(dir, KeyFile)
	seed, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var s *Signer
		if s, seed, err = Generate(); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		if _, err := f.Write(seed); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, err
		}
		return s, f.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return NewSigner(seed)
}

// PublicKey is the signer's public nkey.
func (s *Signer) PublicKey() string { return s.pub }

func signed(subject, prev string, data []byte) []byte {
	b := make([]byte, 0, 16+len(subject)+len(prev)+len(data)+12)
	b = append(b, "hongbao-seal-v1"...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(subject)))
	b = append(b, subject...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(prev)))
	b = append(b, prev...)
	return append(b, data...)
}

// Seal sets the seal headers of a message to be appended after the message
// whose Hash is prev ("" for a subject's first) and returns the message's
// own Hash, the next one's prev.
func (s *Signer) Seal(m *nats.Msg, prev string) string {
	if m.Header == nil {
		m.Header = nats.Header{}
	}
	sig := base64.RawURLEncoding.EncodeToString(ed25519.Sign(s.priv, signed(m.Subject, prev, m.Data)))
	// Set directly: the canonical form of these names is themselves.
	m.Header[HdrPrev] = []string{prev}
	m.Header[HdrKey] = []string{s.pub}
	m.Header[HdrSig] = []string{sig}
	return hash(prev, s.pub, sig, m.Data)
}

// Hash is a stored message's link: SHA-256, hex, over its seal headers
// (empty when absent) and data.
func Hash(h nats.Header, data []byte) string {
	return hash(h.Get(HdrPrev), h.Get(HdrKey), h.Get(HdrSig), data)
}

func hash(prev, key, sig string, data []byte) string {
	d := sha256.New()
	var n [4]byte
	for _, s := range []string{prev, key, sig} {
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		d.Write(n[:])
		d.Write([]byte(s))
	}
	d.Write(data)
	return hex.EncodeToString(d.Sum(nil))
}

// Policy says which keys are trusted and where signing began on a stream.
type Policy struct {
	// verified remembers messages whose signature verified, by stream,
	// sequence and digest of what was signed: the views of one stream,
	// and a load after them, pay for one ed25519 verification per message
	// (≈75 µs) and a SHA-256 each (≈1 µs), not one verification each.
	verified [verifiedSlots]verifiedSlot
	mu       sync.RWMutex
	keys     map[string]ed25519.PublicKey
	from     map[string]uint64 // stream → first sequence that must be signed
	refresh  func() (keys []string, from map[string]uint64, err error)
}

const verifiedSlots = 1 << 14

type verifiedSlot struct {
	mu     sync.Mutex
	seq    uint64
	stream string
	digest [sha256.Size]byte // of key, sig and what was signed
}

func digest(key, sig string, signed []byte) [sha256.Size]byte {
	d := sha256.New()
	d.Write([]byte(key))
	d.Write([]byte{0})
	d.Write([]byte(sig))
	d.Write([]byte{0})
	d.Write(signed)
	var out [sha256.Size]byte
	d.Sum(out[:0])
	return out
}

func (p *Policy) known(stream string, seq uint64, dg [sha256.Size]byte) bool {
	v := &p.verified[seq%verifiedSlots]
	v.mu.Lock()
	ok := v.seq == seq && v.stream == stream && v.digest == dg
	v.mu.Unlock()
	return ok
}

func (p *Policy) remember(stream string, seq uint64, dg [sha256.Size]byte) {
	v := &p.verified[seq%verifiedSlots]
	v.mu.Lock()
	v.seq, v.stream, v.digest = seq, stream, dg
	v.mu.Unlock()
}

// NewPolicy trusts keys; from maps a stream to the first sequence that
// must be signed (absent: the stream has never been signed). refresh, when
// not nil, reloads both when an unknown key is met (an instance registered
// since).
func NewPolicy(keys []string, from map[string]uint64, refresh func() ([]string, map[string]uint64, error)) *Policy {
	p := &Policy{refresh: refresh}
	p.set(keys, from)
	return p
}

func (p *Policy) set(keys []string, from map[string]uint64) {
	m := make(map[string]ed25519.PublicKey, len(keys))
	for _, k := range keys {
		if _, raw, err := decodePublic(k); err == nil {
			m[k] = raw
		}
	}
	f := make(map[string]uint64, len(from))
	for k, v := range from {
		f[k] = v
	}
	p.mu.Lock()
	p.keys, p.from = m, f
	p.mu.Unlock()
}

func decodePublic(k string) (nkeys.PrefixByte, ed25519.PublicKey, error) {
	pre := nkeys.Prefix(k)
	raw, err := nkeys.Decode(pre, []byte(k))
	if err != nil {
		return 0, nil, err
	}
	return pre, ed25519.PublicKey(raw), nil
}

// Keys lists the trusted public keys.
func (p *Policy) Keys() []string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]string, 0, len(p.keys))
	for k := range p.keys {
		out = append(out, k)
	}
	return out
}

func (p *Policy) key(k string) (ed25519.PublicKey, bool) {
	p.mu.RLock()
	raw, ok := p.keys[k]
	p.mu.RUnlock()
	if ok || p.refresh == nil {
		return raw, ok
	}
	keys, from, err := p.refresh()
	if err != nil {
		return nil, false
	}
	p.set(keys, from)
	p.mu.RLock()
	raw, ok = p.keys[k]
	p.mu.RUnlock()
	return raw, ok
}

// Verify checks one stored message of stream (at seq, on subject): signed
// by a trusted key over its prev and data, or unsigned before the stream's
// signed-from marker. It does not check the link (Chain does). Errors wrap
// ErrForged. A nil Policy verifies nothing.
func (p *Policy) Verify(stream, subject string, seq uint64, h nats.Header, data []byte) error {
	if p == nil {
		return nil
	}
	sig := h.Get(HdrSig)
	if sig == "" {
		p.mu.RLock()
		from, signing := p.from[stream]
		p.mu.RUnlock()
		if signing && seq >= from {
			return fmt.Errorf("%w: %s seq %d is unsigned (stream %s is signed from seq %d)", ErrForged, subject, seq, stream, from)
		}
		return nil // legacy
	}
	k := h.Get(HdrKey)
	msg := signed(subject, h.Get(HdrPrev), data)
	dg := digest(k, sig, msg)
	if p.known(stream, seq, dg) {
		return nil
	}
	pub, ok := p.key(k)
	if !ok {
		return fmt.Errorf("%w: %s seq %d signed by %q, not a trusted instance key", ErrForged, subject, seq, k)
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !ed25519.Verify(pub, msg, raw) {
		return fmt.Errorf("%w: %s seq %d: the signature does not verify", ErrForged, subject, seq)
	}
	p.remember(stream, seq, dg)
	return nil
}

// Link checks that a stored message follows prev (the Hash of the message
// before it on its subject, "" for the first) and returns its own Hash. An
// unsigned (legacy) message carries no link and is not checked.
func Link(subject string, seq uint64, h nats.Header, data []byte, prev string) (string, error) {
	next := Hash(h, data)
	if h.Get(HdrSig) == "" {
		return next, nil
	}
	if got := h.Get(HdrPrev); got != prev {
		return next, fmt.Errorf("%w: %s seq %d links to %.12s…, the message before it is %.12s…", ErrForged, subject, seq, got, prev)
	}
	return next, nil
}
