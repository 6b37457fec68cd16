package auth

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

const (
	docPath  = "../../docs/security.md"
	docBegin = "<!-- permissions:begin (generated from internal/auth.Rules; TestSecurityDocListsPermissions) -->"
	docEnd   = "<!-- permissions:end -->"
)

// docTable renders rules as the markdown table docs/security.md carries.
func docTable(rules []Rule) string {
	var b strings.Builder
	b.WriteString("| role | kind | access | subject | why |\n|---|---|---|---|---|\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "| %s | %s | %s | `%s` | %s |\n", r.Role, r.Kind, r.Access, r.Subject, r.Why)
	}
	return b.String()
}

// TestSecurityDocListsPermissions keeps docs/security.md's permission table
// equal to what the code grants. On a mismatch it prints the table to paste.
func TestSecurityDocListsPermissions(t *testing.T) {
	b, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the markers %q ... %q", docPath, docBegin, docEnd)
	}
	got := strings.TrimSpace(doc[i+len(docBegin) : j])
	want := strings.TrimSpace(docTable(Rules(prefix)))
	if got != want {
		gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
		for _, l := range wl {
			if !slices.Contains(gl, l) {
				t.Errorf("missing from the doc: %s", l)
			}
		}
		for _, l := range gl {
			if !slices.Contains(wl, l) {
				t.Errorf("in the doc but not granted: %s", l)
			}
		}
		t.Fatalf("%s's permission table differs from internal/auth.Rules; the table should read:\n%s", docPath, want)
	}
}
