package api

import "strings"

// Identifier limits of api.md.
const (
	EnvelopeIDLen   = 26  // a canonical ULID
	MaxUserLen      = 64  // user and sender
	MaxRequestIDLen = 128 // request_id and payment_id
)

// ulidAlphabet is Crockford's base32 as a canonical ULID spells it: upper
// case only, without I, L, O and U.
const ulidAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

var ulidChar = func() (t [256]bool) {
	for i := 0; i < len(ulidAlphabet); i++ {
		t[ulidAlphabet[i]] = true
	}
	return t
}()

// ValidEnvelopeID reports whether s is a ULID in canonical form: exactly 26
// characters of upper-case Crockford base32 ("0123456789ABCDEFGHJKMNPQRSTVWXYZ")
// whose first character is at most '7' (a larger one overflows 128 bits).
// Lower case, the ambiguous letters I, L, O, U and every separator or
// wildcard ('.', '*', '>', space) are rejected.
func ValidEnvelopeID(s string) bool {
	if len(s) != EnvelopeIDLen || s[0] > '7' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ulidChar[s[i]] {
			return false
		}
	}
	return true
}

// ParseEnvelopeID returns s when ValidEnvelopeID(s), else an *Error
// invalid_id.
func ParseEnvelopeID(s string) (string, error) {
	if !ValidEnvelopeID(s) {
		return "", errInvalidEnvelopeID()
	}
	return s, nil
}

func errInvalidEnvelopeID() *Error {
	return Errorf(CodeInvalidID, "envelope_id must be a canonical ULID (26 upper-case Crockford base32 characters)")
}

// ValidUser reports whether s is a user (or sender) name: 1 to 64 bytes of
// [A-Za-z0-9_-].
func ValidUser(s string) bool {
	if len(s) == 0 || len(s) > MaxUserLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// ValidRequestID reports whether s is a request_id (or payment_id): 1 to
// 128 printable ASCII characters. Printable follows the ASCII definition,
// 0x20 to 0x7E, so the space is allowed (and significant: "a" and "a " are
// different keys); control characters, DEL and non-ASCII are not.
func ValidRequestID(s string) bool {
	if len(s) == 0 || len(s) > MaxRequestIDLen {
		return false
	}
	return printableASCII(s)
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7E {
			return false
		}
	}
	return true
}

// cutSubject returns the rest of subject after "<prefix>.<verb>.", if it
// starts with that.
func cutSubject(subject, prefix, verb string) (string, bool) {
	rest, ok := strings.CutPrefix(subject, prefix)
	if !ok {
		return "", false
	}
	if rest, ok = strings.CutPrefix(rest, "."); !ok {
		return "", false
	}
	if rest, ok = strings.CutPrefix(rest, verb); !ok {
		return "", false
	}
	return strings.CutPrefix(rest, ".")
}

// EnvelopeIDFromSubject returns the envelope id of a subject of the form
// "<prefix>.<verb>.<envelope_id>", e.g. "hongbao.open.01J…" with prefix
// "hongbao" and verb "open". The prefix may itself hold several tokens
// ("acme.hongbao"). Anything else (another prefix or verb, a missing, extra
// or empty token, a wildcard, an id that is not a canonical ULID) is an
// *Error invalid_id.
func EnvelopeIDFromSubject(subject, prefix, verb string) (string, error) {
	id, ok := cutSubject(subject, prefix, verb)
	if !ok {
		return "", Errorf(CodeInvalidID, "subject is not %s.%s.<envelope_id>", prefix, verb)
	}
	if !ValidEnvelopeID(id) {
		return "", errInvalidEnvelopeID()
	}
	return id, nil
}

// UserFromSubject returns the user of a subject of the form
// "<prefix>.<verb>.<user>", e.g. "hongbao.wallet.bob" with prefix "hongbao"
// and verb "wallet". Anything else, including a user that is not ValidUser
// (so also extra tokens and wildcards), is an *Error bad_request with the
// message "invalid user".
func UserFromSubject(subject, prefix, verb string) (string, error) {
	user, ok := cutSubject(subject, prefix, verb)
	if !ok || !ValidUser(user) {
		return "", Errorf(CodeBadRequest, "invalid user")
	}
	return user, nil
}
