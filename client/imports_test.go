package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestSelfContained: the client depends on no other package of this
// module (nor, transitively, on the service's internals), so that
// applications outside the module can use it.
func TestSelfContained(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const module = "github.com/hongbao/hongbao/"
	n := 0
	for _, p := range strings.Fields(string(out)) {
		n++
		if strings.HasPrefix(p, module) && p != module+"client" {
			t.Errorf("client depends on %s", p)
		}
	}
	if n < 10 || !strings.Contains(string(out), "github.com/nats-io/nats.go") {
		t.Fatalf("go list -deps listed %d packages without nats.go: %s", n, out)
	}
}
