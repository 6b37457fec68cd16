package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/testenv"
	"github.com/hongbao/hongbao/ops"
	"github.com/hongbao/hongbao/projections"
	"github.com/hongbao/hongbao/projections/projector"
	"github.com/hongbao/hongbao/service"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestOpsOnline: status, rebuild and verify against a running instance.
func TestOpsOnline(t *testing.T) {
	h := testenv.Start(t, service.Config{}, testenv.WithListen())
	for i := 0; i < 5; i++ {
		id := h.WrapAndPay("equal", 300, 3)
		h.Open(id, "bob")
	}
	url := h.Srv.URL()

	code, out, errOut := runCLI(t, "status", "--nats-url", url, "--json")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errOut)
	}
	var st ops.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Projections) != len(projections.Names) {
		t.Fatalf("status JSON %s: %v", out, err)
	}

	code, out, errOut = runCLI(t, "rebuild", "users", "--nats-url", url)
	if code != 0 || !strings.Contains(out, "rebuilt and swapped in: users") {
		t.Fatalf("rebuild: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "rebuild", "--verify", "--nats-url", url, "--json")
	if code != 0 {
		t.Fatalf("verify: exit %d\n%s\n%s", code, out, errOut)
	}
	var rep struct {
		Differences int                        `json:"differences"`
		Verify      []projections.VerifyResult `json:"verify"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || len(rep.Verify) != len(projections.Names) || rep.Differences != 0 {
		t.Fatalf("verify JSON %s: %v", out, err)
	}
	code, _, errOut = runCLI(t, "rebuild", "nonsense", "--nats-url", url)
	if code != 2 || !strings.Contains(errOut, "must be one of") {
		t.Fatalf("bad projection name: exit %d %s", code, errOut)
	}
}

// TestOpsOffline: with the service stopped, verify reads the data
// directory, and lists a row someone changed behind the projector's back
// (exit status 1); rebuild repairs it.
func TestOpsOffline(t *testing.T) {
	data := t.TempDir()
	h := testenv.Start(t, service.Config{}, testenv.WithListen(), testenv.WithoutProjections())
	set := h.StartProjections(filepath.Join(data, "projections"))
	for i := 0; i < 5; i++ {
		id := h.WrapAndPay("lucky", 500, 5)
		h.Open(id, "bob")
	}
	natstest.Eventually(t, 10*time.Second, func() error {
		lags, err := set.Status(context.Background())
		if err != nil {
			return err
		}
		for _, l := range lags {
			if l.Lag > 0 {
				return fmt.Errorf("%s lags %d", l.Name, l.Lag)
			}
		}
		return nil
	})
	// Stop the service and the read models: offline from here on.
	testenv.Stop(t, h.Svc)
	if err := set.Close(); err != nil {
		t.Fatal(err)
	}

	// Tamper with the users projection.
	db, err := projector.Open(filepath.Join(data, "projections", "users", "gen-000001"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set([]byte("u/forged"), []byte(`{"amount":100000}`), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	args := []string{"--nats-url", h.Srv.URL(), "--data", data}
	code, out, errOut := runCLI(t, append([]string{"rebuild", "users", "--verify"}, args...)...)
	if code != 1 || !strings.Contains(out, `"u/forged"`) || !strings.Contains(out, "1 differences") {
		t.Fatalf("verify of a tampered projection: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, append([]string{"rebuild", "users"}, args...)...)
	if code != 0 {
		t.Fatalf("offline rebuild: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, append([]string{"rebuild", "--verify"}, args...)...)
	if code != 0 || strings.Count(out, ", 0 differences") != len(projections.Names) {
		t.Fatalf("verify after rebuild: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, append([]string{"status"}, args...)...)
	if code != 0 || !strings.Contains(out, "users        2") {
		t.Fatalf("offline status: exit %d\n%s", code, out)
	}

	// An outbox left by a build of another row format (here format 1, JSON
	// rows, without the marker): the offline rebuild the README advises
	// before an upgrade replaces it, and it verifies clean.
	db, err = projector.Open(filepath.Join(data, "projections", "outbox", "gen-000001"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(db.Delete(projector.FormatKey, pebble.Sync),
		db.Set([]byte("o/q/\x00\x00\x00\x00\x00\x00\x00\x02"), []byte("fund:x"), pebble.Sync), db.Close()); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, append([]string{"rebuild", "outbox"}, args...)...)
	if code != 0 {
		t.Fatalf("offline rebuild of an old-format outbox: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, append([]string{"rebuild", "--verify", "outbox"}, args...)...)
	if code != 0 || !strings.Contains(out, ", 0 differences") {
		t.Fatalf("verify of the rebuilt outbox: exit %d\n%s\n%s", code, out, errOut)
	}
}
