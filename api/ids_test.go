package api

import (
	"strings"
	"testing"

	"github.com/oklog/ulid/v2"
)

const goodID = "01JQ0000000000000000000000"

func TestValidEnvelopeID(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want bool
	}{
		{"canonical", goodID, true},
		{"fresh ulid", ulid.Make().String(), true},
		{"zero", strings.Repeat("0", 26), true},
		{"max", "7" + strings.Repeat("Z", 25), true},
		{"every letter", "0123456789ABCDEFGHJKMNPQRS", true},
		{"rest of alphabet", "0TVWXYZ0000000000000000000", true},
		{"empty", "", false},
		{"25 chars", goodID[:25], false},
		{"27 chars", goodID + "0", false},
		{"first char 8", "8" + goodID[1:], false},
		{"first char Z", "Z" + goodID[1:], false},
		{"lower case", strings.ToLower(goodID), false},
		{"one lower case letter", "01Jq0000000000000000000000", false},
		{"letter I", "01JI0000000000000000000000", false},
		{"letter L", "01JL0000000000000000000000", false},
		{"letter O", "01JO0000000000000000000000", false},
		{"letter U", "01JU0000000000000000000000", false},
		{"dot", "01JQ000000000.000000000000", false},
		{"star", "01JQ000000000*000000000000", false},
		{"gt", "01JQ000000000>000000000000", false},
		{"only star", "*", false},
		{"only gt", ">", false},
		{"space", "01JQ000000000 000000000000", false},
		{"trailing space", goodID[:25] + " ", false},
		{"tab", "01JQ000000000\t000000000000", false},
		{"nul", "01JQ000000000\x00000000000000"[:26], false},
		{"non-ASCII", "01JQ00000000000000000000é", false},
		{"hyphen", "01JQ0000-00000000000000000", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantEqual(t, ValidEnvelopeID(c.in), c.want)
			id, err := ParseEnvelopeID(c.in)
			if c.want {
				wantNoError(t, err)
				wantEqual(t, id, c.in)
				if _, err := ulid.ParseStrict(c.in); err != nil {
					t.Fatalf("oklog/ulid rejects %q: %v", c.in, err)
				}
				return
			}
			wantCode(t, err, CodeInvalidID, "envelope_id")
			wantEqual(t, id, "")
		})
	}
}

func TestValidUser(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want bool
	}{
		{"simple", "bob", true},
		{"all classes", "Az09_-", true},
		{"one char", "a", true},
		{"only hyphen", "-", true},
		{"64 chars", strings.Repeat("a", 64), true},
		{"empty", "", false},
		{"65 chars", strings.Repeat("a", 65), false},
		{"dot", "bob.smith", false},
		{"star", "bob*", false},
		{"gt", ">", false},
		{"space", "bob smith", false},
		{"tab", "bob\t", false},
		{"at", "bob@example", false},
		{"slash", "a/b", false},
		{"non-ASCII", "小明", false},
		{"nul", "bob\x00", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantEqual(t, ValidUser(c.in), c.want)
		})
	}
}

func TestValidRequestID(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want bool
	}{
		{"simple", "c-123", true},
		{"one char", "x", true},
		{"128 chars", strings.Repeat("r", 128), true},
		{"every printable", " !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", true},
		{"space", "order 1", true},
		{"only space", " ", true},
		{"empty", "", false},
		{"129 chars", strings.Repeat("r", 129), false},
		{"tab", "c\t1", false},
		{"newline", "c-1\n", false},
		{"nul", "c\x001", false},
		{"del", "c\x7f", false},
		{"non-ASCII", "订单-1", false},
		{"high byte", "c\xff", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantEqual(t, ValidRequestID(c.in), c.want)
		})
	}
}

func TestEnvelopeIDFromSubject(t *testing.T) {
	cases := []struct {
		name            string
		subject, prefix string
		verb            string
		want            string // "" means an invalid_id error
	}{
		{"open", "hongbao.open." + goodID, "hongbao", "open", goodID},
		{"get", "hongbao.get." + goodID, "hongbao", "get", goodID},
		{"multi-token prefix", "acme.hongbao.pay." + goodID, "acme.hongbao", "pay", goodID},
		{"other verb", "hongbao.grab." + goodID, "hongbao", "open", ""},
		{"other prefix", "other.open." + goodID, "hongbao", "open", ""},
		{"prefix is a prefix of a token", "hongbaox.open." + goodID, "hongbao", "open", ""},
		{"verb is a prefix of a token", "hongbao.opened." + goodID, "hongbao", "open", ""},
		{"no id", "hongbao.open", "hongbao", "open", ""},
		{"empty id", "hongbao.open.", "hongbao", "open", ""},
		{"empty subject", "", "hongbao", "open", ""},
		{"extra token", "hongbao.open." + goodID + ".x", "hongbao", "open", ""},
		{"extra empty token", "hongbao.open." + goodID + ".", "hongbao", "open", ""},
		{"two ids", "hongbao.open." + goodID + "." + goodID, "hongbao", "open", ""},
		{"leading dot", ".hongbao.open." + goodID, "hongbao", "open", ""},
		{"double dot", "hongbao..open." + goodID, "hongbao", "open", ""},
		{"star", "hongbao.open.*", "hongbao", "open", ""},
		{"gt", "hongbao.open.>", "hongbao", "open", ""},
		{"star in id", "hongbao.open.01JQ00000000000000000000*0", "hongbao", "open", ""},
		{"lower case", "hongbao.open." + strings.ToLower(goodID), "hongbao", "open", ""},
		{"25 chars", "hongbao.open." + goodID[:25], "hongbao", "open", ""},
		{"27 chars", "hongbao.open." + goodID + "0", "hongbao", "open", ""},
		{"first char 8", "hongbao.open.8" + goodID[1:], "hongbao", "open", ""},
		{"space", "hongbao.open. " + goodID[1:], "hongbao", "open", ""},
		{"trailing space", "hongbao.open." + goodID + " ", "hongbao", "open", ""},
		{"upper-case verb", "hongbao.OPEN." + goodID, "hongbao", "open", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id, err := EnvelopeIDFromSubject(c.subject, c.prefix, c.verb)
			if c.want != "" {
				wantNoError(t, err)
				wantEqual(t, id, c.want)
				return
			}
			wantCode(t, err, CodeInvalidID, "")
			wantEqual(t, id, "")
		})
	}
}

func TestUserFromSubject(t *testing.T) {
	cases := []struct {
		name    string
		subject string
		want    string // "" means a bad_request error
	}{
		{"simple", "hongbao.wallet.bob", "bob"},
		{"all classes", "hongbao.wallet.Az09_-", "Az09_-"},
		{"64 chars", "hongbao.wallet." + strings.Repeat("u", 64), strings.Repeat("u", 64)},
		{"65 chars", "hongbao.wallet." + strings.Repeat("u", 65), ""},
		{"no user", "hongbao.wallet", ""},
		{"empty user", "hongbao.wallet.", ""},
		{"extra token", "hongbao.wallet.bob.x", ""},
		{"star", "hongbao.wallet.*", ""},
		{"gt", "hongbao.wallet.>", ""},
		{"space", "hongbao.wallet.bo b", ""},
		{"other verb", "hongbao.open.bob", ""},
		{"other prefix", "other.wallet.bob", ""},
		{"non-ASCII", "hongbao.wallet.小明", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			user, err := UserFromSubject(c.subject, "hongbao", "wallet")
			if c.want != "" {
				wantNoError(t, err)
				wantEqual(t, user, c.want)
				return
			}
			wantCode(t, err, CodeBadRequest, "invalid user")
			wantEqual(t, user, "")
		})
	}
}
