package tickets

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
	"github.com/oklog/ulid/v2"
)

// testSeed is a fixed server key seed made from raw bytes b, so the
// committed fuzz corpus stays valid.
func testSeed(t testing.TB, b byte) string {
	t.Helper()
	raw := make([]byte, ed25519.SeedSize)
	for i := range raw {
		raw[i] = b + byte(i)
	}
	kp, err := nkeys.FromRawSeed(nkeys.PrefixByteServer, raw)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kp.Seed()
	if err != nil {
		t.Fatal(err)
	}
	return string(seed)
}

func publicOf(t testing.TB, seed string) string {
	t.Helper()
	kp, err := nkeys.FromSeed([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return pub
}

var (
	campA = ulid.MustParseStrict("01KHCAMPA1GN000000000000AA")
	campB = ulid.MustParseStrict("01KHCAMPA1GN000000000000AB")
)

// ring is the keyring of the tests and the fuzz corpus: active key 1, key 2
// retired but still verifying.
func ring(t testing.TB) *Keyring {
	t.Helper()
	r, err := NewKeyring(testSeed(t, 1), testSeed(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustIssue(t testing.TB, r *Keyring, c ulid.ULID, i int, user string) string {
	t.Helper()
	tok, err := r.Issue(c, i, user)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestIssueVerify(t *testing.T) {
	r := ring(t)
	for _, i := range []int{0, 1, 127, 128, 16383, 16384, 9_999_999, MaxIndex} {
		tok := mustIssue(t, r, campA, i, "bob")
		if len(tok) < 94 || len(tok) > 99 {
			t.Errorf("token of %d is %d characters", i, len(tok))
		}
		got, kid, err := r.Verify(tok, campA, "bob")
		if err != nil || got != i || kid != r.ActiveKeyID() {
			t.Fatalf("Verify(ticket %d) = %d, %s, %v", i, got, kid, err)
		}
		if again := mustIssue(t, r, campA, i, "bob"); again != tok {
			t.Fatalf("Issue is not deterministic: %s then %s", tok, again)
		}
	}
}

func TestVerifyRejects(t *testing.T) {
	r := ring(t)
	tok := mustIssue(t, r, campA, 42, "bob")
	raw, err := b64.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) string {
		b := append([]byte(nil), raw...)
		return b64.EncodeToString(f(b))
	}
	other, err := NewKeyring(testSeed(t, 9))
	if err != nil {
		t.Fatal(err)
	}
	// A non-minimal index encoding with a valid signature over it: refused
	// anyway, so a token has one spelling.
	nonMinimal := func() string {
		k := r.active
		signed := append([]byte{version}, k.id[:]...)
		signed = append(signed, 0x80|42, 0x00)
		sig := ed25519.Sign(k.priv, message(nil, signed, campA, "bob"))
		return b64.EncodeToString(append(signed, sig...))
	}()
	cases := map[string]struct {
		tok, user string
		camp      ulid.ULID
	}{
		"other user":         {tok, "bobby", campA},
		"other campaign":     {tok, "bob", campB},
		"empty user":         {tok, "", campA},
		"other key":          {mustIssue(t, other, campA, 42, "bob"), "bob", campA},
		"altered index":      {mutate(func(b []byte) []byte { b[head] = 43; return b }), "bob", campA},
		"altered signature":  {mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "bob", campA},
		"altered key id":     {mutate(func(b []byte) []byte { b[1] ^= 1; return b }), "bob", campA},
		"version 2":          {mutate(func(b []byte) []byte { b[0] = 2; return b }), "bob", campA},
		"truncated":          {tok[:len(tok)-1], "bob", campA},
		"too short":          {tok[:50], "bob", campA},
		"extended":           {tok + "A", "bob", campA},
		"padding":            {tok + "==", "bob", campA},
		"std alphabet":       {tok[:len(tok)-2] + "+/", "bob", campA},
		"empty":              {"", "bob", campA},
		"non-minimal index":  {nonMinimal, "bob", campA},
		"index over the cap": {mutate(func(b []byte) []byte { return b }), "bob", campA},
	}
	// Index over the cap: a signed token for MaxIndex+1 cannot be issued;
	// forge its layout with a valid signature.
	{
		k := r.active
		signed := append([]byte{version}, k.id[:]...)
		signed = binary.AppendUvarint(signed, MaxIndex+1)
		sig := ed25519.Sign(k.priv, message(nil, signed, campA, "bob"))
		c := cases["index over the cap"]
		c.tok = b64.EncodeToString(append(signed, sig...))
		cases["index over the cap"] = c
	}
	for name, c := range cases {
		if i, _, err := r.Verify(c.tok, c.camp, c.user); !errors.Is(err, ErrInvalidTicket) {
			t.Errorf("%s: Verify = %d, %v; want ErrInvalidTicket", name, i, err)
		}
	}
}

func TestRotation(t *testing.T) {
	old, err := NewKeyring(testSeed(t, 2))
	if err != nil {
		t.Fatal(err)
	}
	tok := mustIssue(t, old, campA, 7, "carol")
	r := ring(t) // key 1 active, key 2 retired
	if i, kid, err := r.Verify(tok, campA, "carol"); err != nil || i != 7 || kid != old.ActiveKeyID() {
		t.Fatalf("retired key: %d, %s, %v", i, kid, err)
	}
	if kid := r.ActiveKeyID(); kid == old.ActiveKeyID() {
		t.Fatal("the retired key is active")
	}
	// A retired key given as a public key verifies too; an auditor's ring
	// has public keys only and cannot issue.
	audit, err := NewVerifier(publicOf(t, testSeed(t, 1)), publicOf(t, testSeed(t, 2)))
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range []string{tok, mustIssue(t, r, campA, 8, "carol")} {
		if _, _, err := audit.Verify(tk, campA, "carol"); err != nil {
			t.Fatalf("auditor: %v", err)
		}
	}
	if _, err := audit.Issue(campA, 1, "carol"); err == nil {
		t.Fatal("a verifier issued a ticket")
	}
	if len(audit.PublicKeys()) != 2 {
		t.Fatalf("public keys %v", audit.PublicKeys())
	}
	// Dropping a key from the ring invalidates its tickets.
	only1, err := NewKeyring(testSeed(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := only1.Verify(tok, campA, "carol"); !errors.Is(err, ErrInvalidTicket) {
		t.Fatalf("dropped key still verifies: %v", err)
	}
}

func TestKeys(t *testing.T) {
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	userSeed, _ := user.Seed()
	userPub, _ := user.PublicKey()
	for name, s := range map[string]string{"user seed": string(userSeed), "garbage": "SNOTAKEY", "empty": ""} {
		if _, err := NewKeyring(s); err == nil {
			t.Errorf("%s accepted as an active key", name)
		}
	}
	if _, err := NewKeyring(testSeed(t, 1), userPub); err == nil {
		t.Error("a user public key accepted as a ticket key")
	}
	if _, err := NewKeyring(publicOf(t, testSeed(t, 1))); err == nil {
		t.Error("a public key accepted as the active key")
	}
	if _, err := NewVerifier(); err == nil {
		t.Error("an empty verifier")
	}
	seed, err := GenerateSeed()
	if err != nil || !strings.HasPrefix(seed, "SN") {
		t.Fatalf("GenerateSeed = %q, %v", seed, err)
	}
	r, err := NewKeyring(seed, testSeed(t, 1), publicOf(t, testSeed(t, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Verify(mustIssue(t, r, campA, 1, "bob"), campA, "bob"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		i    int
		user string
	}{{-1, "bob"}, {MaxIndex + 1, "bob"}, {0, ""}, {0, strings.Repeat("u", 256)}} {
		if _, err := r.Issue(campA, bad.i, bad.user); err == nil {
			t.Errorf("Issue(%d, %q) succeeded", bad.i, bad.user)
		}
	}
}

// FuzzVerify: Verify never panics, fails only with ErrInvalidTicket, and
// accepts only the one spelling Issue makes (invariant 1).
func FuzzVerify(f *testing.F) {
	r := ring(f)
	old, err := NewKeyring(testSeed(f, 2))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(mustIssue(f, r, campA, 0, "bob"), "bob", false)
	f.Add(mustIssue(f, old, campA, 300, "carol"), "carol", false)
	f.Add(mustIssue(f, r, campB, MaxIndex, "x"), "x", true)
	f.Fuzz(func(t *testing.T, tok, user string, b bool) {
		camp := campA
		if b {
			camp = campB
		}
		i, kid, err := r.Verify(tok, camp, user)
		if err != nil {
			if !errors.Is(err, ErrInvalidTicket) {
				t.Fatalf("Verify error %v is not ErrInvalidTicket", err)
			}
			return
		}
		again, err := issue(r.keys[kid], camp, i, user)
		if err != nil || again != tok {
			t.Fatalf("verified %q (ticket %d of %q), but its key issues %q (%v)", tok, i, user, again, err)
		}
	})
}

func BenchmarkIssue(b *testing.B) {
	r := ring(b)
	i := 0
	for b.Loop() {
		if _, err := r.Issue(campA, i, "user-12345"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkVerify(b *testing.B) {
	r := ring(b)
	tok := mustIssue(b, r, campA, 1_234_567, "user-12345")
	for b.Loop() {
		if _, _, err := r.Verify(tok, campA, "user-12345"); err != nil {
			b.Fatal(err)
		}
	}
}
