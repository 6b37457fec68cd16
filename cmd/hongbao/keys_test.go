package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/hongbao/hongbao/eventstore"
	"github.com/hongbao/hongbao/internal/natstest"
	"github.com/hongbao/hongbao/internal/seal"
	"github.com/hongbao/hongbao/topology"
)

// TestKeysCLI: `hongbao keys` lists nothing on a deployment that never
// signed, then the registered instance key and the streams' signed-from
// markers.
func TestKeysCLI(t *testing.T) {
	srv := natstest.Start(t, natstest.WithListen())
	url := srv.URL()
	code, out, errOut := runCLI(t, "keys", "--nats-url", url)
	if code != exitOK || !strings.Contains(out, "nothing was ever signed") {
		t.Fatalf("before any key: exit %d\n%s%s", code, out, errOut)
	}

	signer, _, err := seal.Generate()
	if err != nil {
		t.Fatal(err)
	}
	js := srv.JetStream(t)
	if _, err := eventstore.Open(context.Background(), js, eventstore.Config{}); err != nil {
		t.Fatal(err)
	}
	if err := seal.Register(context.Background(), js, topology.Default().KeysBucket(), 1, signer, "i-1", []string{"ENVELOPES"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "keys", "--nats-url", url)
	if code != exitOK || !strings.Contains(out, "key "+signer.PublicKey()) || !strings.Contains(out, "instance i-1") ||
		!strings.Contains(out, "stream ENVELOPES signed from seq") {
		t.Fatalf("after registering: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "keys", "--nats-url", url, "--json")
	var doc struct {
		Keys       []seal.Registration `json:"keys"`
		SignedFrom map[string]uint64   `json:"signed_from"`
	}
	if code != exitOK || json.Unmarshal([]byte(out), &doc) != nil || len(doc.Keys) != 1 || doc.Keys[0].Key != signer.PublicKey() {
		t.Fatalf("--json: exit %d\n%s%s", code, out, errOut)
	}
	if _, ok := doc.SignedFrom["ENVELOPES"]; !ok {
		t.Fatalf("--json: no signed-from marker for ENVELOPES: %s", out)
	}
}
