package tickets

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nkeys"
	"github.com/oklog/ulid/v2"
)

// ErrInvalidTicket is returned for a token that is malformed, forged,
// altered, signed by an unknown key, or issued for another user, campaign
// or index. The service answers 400 invalid_ticket.
var ErrInvalidTicket = errors.New("tickets: invalid ticket")

const (
	version  = 1
	domain   = "hongbao/ticket/v1"
	kidLen   = 4
	head     = 1 + kidLen
	sigLen   = ed25519.SignatureSize
	minRaw   = head + 1 + sigLen
	maxRaw   = head + binary.MaxVarintLen32 + sigLen
	maxUser  = 255
	MaxIndex = 1<<31 - 1 // the largest ticket index a token carries
)

var b64 = base64.RawURLEncoding.Strict()

// KeyID names a key in tokens and events.
type KeyID [kidLen]byte

// String is the key id in hex, as ticket_opened events carry it.
func (k KeyID) String() string { return hex.EncodeToString(k[:]) }

type key struct {
	id   KeyID
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey // nil for a verify-only key
	nkey string             // the public key, "N…"
}

// Keyring signs with one active key and verifies with every key it holds.
// It is immutable and safe for concurrent use.
type Keyring struct {
	active *key
	keys   map[KeyID]*key
}

// GenerateSeed makes a new signing key and returns its nkeys seed ("SN…").
// Keep it secret (a file readable by the owner only, like the deployment's
// credentials); never commit it.
func GenerateSeed() (string, error) {
	kp, err := nkeys.CreateServer()
	if err != nil {
		return "", err
	}
	seed, err := kp.Seed()
	return string(seed), err
}

// NewKeyring makes a keyring that signs with the active seed and also
// verifies tokens of the older keys, each given as a seed ("SN…") or a
// public key ("N…").
func NewKeyring(activeSeed string, older ...string) (*Keyring, error) {
	active, err := parseKey(activeSeed)
	if err != nil {
		return nil, err
	}
	if active.priv == nil {
		return nil, errors.New("tickets: the active key must be a seed, not a public key")
	}
	r := &Keyring{active: active, keys: map[KeyID]*key{active.id: active}}
	return r, r.add(older)
}

// NewVerifier makes a keyring that only verifies, from public keys ("N…")
// or seeds; Issue fails on it. Auditors use one.
func NewVerifier(keys ...string) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("tickets: a verifier needs at least one key")
	}
	r := &Keyring{keys: map[KeyID]*key{}}
	return r, r.add(keys)
}

func (r *Keyring) add(keys []string) error {
	for _, s := range keys {
		k, err := parseKey(s)
		if err != nil {
			return err
		}
		if prev, dup := r.keys[k.id]; dup {
			if prev.nkey == k.nkey {
				continue
			}
			return fmt.Errorf("tickets: keys %s and %s share the key id %s; generate another", prev.nkey, k.nkey, k.id)
		}
		r.keys[k.id] = k
	}
	return nil
}

func parseKey(s string) (*key, error) {
	var k key
	if prefix := nkeys.Prefix(s); prefix == nkeys.PrefixByteSeed {
		kind, raw, err := nkeys.DecodeSeed([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("tickets: seed: %w", err)
		}
		if kind != nkeys.PrefixByteServer {
			return nil, errors.New("tickets: a ticket key must be an nkeys server key (seed SN…)")
		}
		k.priv = ed25519.NewKeyFromSeed(raw)
		k.pub = k.priv.Public().(ed25519.PublicKey)
		pub, err := nkeys.Encode(nkeys.PrefixByteServer, k.pub)
		if err != nil {
			return nil, err
		}
		k.nkey = string(pub)
	} else {
		raw, err := nkeys.Decode(nkeys.PrefixByteServer, []byte(s))
		if err != nil {
			return nil, fmt.Errorf("tickets: a ticket key must be an nkeys server key (SN… or N…): %w", err)
		}
		k.pub, k.nkey = ed25519.PublicKey(raw), s
	}
	sum := sha256.Sum256(k.pub)
	copy(k.id[:], sum[:kidLen])
	return &k, nil
}

// ActiveKeyID is the key id Issue signs with (zero for a verifier).
func (r *Keyring) ActiveKeyID() KeyID {
	if r.active == nil {
		return KeyID{}
	}
	return r.active.id
}

// PublicKeys lists the public keys ("N…") the keyring verifies with, for
// auditors.
func (r *Keyring) PublicKeys() []string {
	out := make([]string, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, k.nkey)
	}
	return out
}

// Issue signs the ticket index of campaign for user with the active key.
// It fails only on a verify-only keyring, an index outside 0..MaxIndex, or
// a user that is empty or longer than 255 bytes.
func (r *Keyring) Issue(campaign ulid.ULID, index int, user string) (string, error) {
	if r.active == nil {
		return "", errors.New("tickets: a verifier cannot issue tickets")
	}
	return issue(r.active, campaign, index, user)
}

func issue(k *key, campaign ulid.ULID, index int, user string) (string, error) {
	if index < 0 || index > MaxIndex || user == "" || len(user) > maxUser {
		return "", fmt.Errorf("tickets: cannot issue ticket %d to %q", index, user)
	}
	var raw [maxRaw]byte
	raw[0] = version
	copy(raw[1:], k.id[:])
	n := head + binary.PutUvarint(raw[head:], uint64(index))
	var buf [len(domain) + maxRaw + 16 + maxUser]byte
	sig := ed25519.Sign(k.priv, message(buf[:0], raw[:n], campaign, user))
	n += copy(raw[n:], sig)
	return b64.EncodeToString(raw[:n]), nil
}

// message is what a token's signature covers: domain ‖ version ‖ key id ‖
// campaign ‖ uvarint(index) ‖ user. signed is the token's bytes before the
// signature (version ‖ key id ‖ uvarint(index)).
func message(b, signed []byte, campaign ulid.ULID, user string) []byte {
	b = append(b, domain...)
	b = append(b, signed[:head]...)
	b = append(b, campaign[:]...)
	b = append(b, signed[head:]...)
	return append(b, user...)
}

// Verify checks that token is a ticket of campaign issued to user by a key
// of the keyring, and returns its index and key id. Every failure is
// ErrInvalidTicket. It reads nothing but its arguments and the keyring.
func (r *Keyring) Verify(token string, campaign ulid.ULID, user string) (int, KeyID, error) {
	index, k, raw, err := r.parse(token)
	if err != nil {
		return 0, KeyID{}, err
	}
	if user == "" || len(user) > maxUser {
		return 0, KeyID{}, fmt.Errorf("%w: user %q", ErrInvalidTicket, user)
	}
	signed, sig := raw[:len(raw)-sigLen], raw[len(raw)-sigLen:]
	var buf [len(domain) + maxRaw + 16 + maxUser]byte
	if !ed25519.Verify(k.pub, message(buf[:0], signed, campaign, user), sig) {
		return 0, KeyID{}, fmt.Errorf("%w: signature does not match campaign %s and user %q", ErrInvalidTicket, campaign, user)
	}
	return index, k.id, nil
}

// parse decodes a token's layout and finds its key, without checking the
// signature.
func (r *Keyring) parse(token string) (int, *key, []byte, error) {
	if len(token) > b64.EncodedLen(maxRaw) || len(token) < b64.EncodedLen(minRaw) {
		return 0, nil, nil, fmt.Errorf("%w: %d characters", ErrInvalidTicket, len(token))
	}
	var arr [maxRaw]byte
	n, err := b64.Decode(arr[:], []byte(token))
	if err != nil || n < minRaw {
		return 0, nil, nil, fmt.Errorf("%w: not base64url", ErrInvalidTicket)
	}
	raw := arr[:n]
	if raw[0] != version {
		return 0, nil, nil, fmt.Errorf("%w: version %d", ErrInvalidTicket, raw[0])
	}
	var id KeyID
	copy(id[:], raw[1:head])
	k, ok := r.keys[id]
	if !ok {
		return 0, nil, nil, fmt.Errorf("%w: unknown key %s", ErrInvalidTicket, id)
	}
	mid := raw[head : n-sigLen]
	v, m := binary.Uvarint(mid)
	if m != len(mid) || m < 1 || v > MaxIndex || uvarintLen(v) != m {
		return 0, nil, nil, fmt.Errorf("%w: index", ErrInvalidTicket)
	}
	return int(v), k, raw, nil
}

func uvarintLen(v uint64) int {
	var b [binary.MaxVarintLen64]byte
	return binary.PutUvarint(b[:], v)
}
